import NIOCore
import NIOPosix
import HAProxyConfig
public enum ProxyCorePlaceholder {}
