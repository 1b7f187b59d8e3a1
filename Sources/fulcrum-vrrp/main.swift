import VRRPCLI
#if canImport(Glibc)
import Glibc
#endif
exit(VRRPMain.run(Array(CommandLine.arguments.dropFirst())))
