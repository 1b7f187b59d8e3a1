import HAProxyConfig
import ProxyCore
public enum FulcrumCLIPlaceholder {}
