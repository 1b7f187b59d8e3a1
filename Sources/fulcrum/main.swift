import FulcrumCLI
#if canImport(Glibc)
import Glibc
#endif

exit(FulcrumMain.run(Array(CommandLine.arguments.dropFirst())))
