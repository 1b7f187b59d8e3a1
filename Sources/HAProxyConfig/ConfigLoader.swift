// Entry points of the configuration parser. (Filled in by the parser work.)
public struct LoadResult: Sendable {
    public var configuration: Configuration?
    public var diagnostics: [Diagnostic]
    public var hasAlerts: Bool { diagnostics.contains { $0.severity == .alert } }
    public init(configuration: Configuration?, diagnostics: [Diagnostic]) {
        self.configuration = configuration
        self.diagnostics = diagnostics
    }
}

public struct ConfigLoader: Sendable {
    public var environment: [String: String]
    public init(environment: [String: String]) { self.environment = environment }

    /// Loads files and directories (a directory's `*.cfg` in lexical order), as several `-f` do.
    public func load(paths: [String]) -> LoadResult {
        LoadResult(configuration: nil, diagnostics: [Diagnostic(.alert, "parser not implemented")])
    }

    /// Parses one text as if it were the file `file`.
    public func parse(text: String, file: String) -> LoadResult {
        LoadResult(configuration: nil, diagnostics: [Diagnostic(.alert, "parser not implemented")])
    }
}
