import Foundation

// Entry points of the configuration parser.
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
        var parser = ConfigParser(environment: environment)
        for path in paths {
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
                parser.diagnostics.append(Diagnostic(.alert, "Could not open configuration file \(path) : No such file or directory"))
                continue
            }
            var files: [String] = []
            if isDir.boolValue {
                do {
                    let names = try FileManager.default.contentsOfDirectory(atPath: path)
                    let base = path.hasSuffix("/") ? path : path + "/"
                    for n in names.sorted() where n.hasSuffix(".cfg") {
                        var sub: ObjCBool = false
                        if FileManager.default.fileExists(atPath: base + n, isDirectory: &sub), !sub.boolValue {
                            files.append(base + n)
                        }
                    }
                } catch {
                    parser.diagnostics.append(Diagnostic(.alert, "Could not read configuration directory \(path) : \(error.localizedDescription)"))
                    continue
                }
            } else {
                files = [path]
            }
            for file in files {
                guard let data = FileManager.default.contents(atPath: file) else {
                    parser.diagnostics.append(Diagnostic(.alert, "Could not open configuration file \(file) : Permission denied"))
                    continue
                }
                parser.parseFile(text: String(decoding: data, as: UTF8.self), file: file)
            }
        }
        return parser.finish()
    }

    /// Parses one text as if it were the file `file`.
    public func parse(text: String, file: String) -> LoadResult {
        var parser = ConfigParser(environment: environment)
        parser.parseFile(text: text, file: file)
        return parser.finish()
    }

    /// Evaluates a `-cc EXPR` condition (the syntax of `.if`), with this loader's environment.
    public func evaluateCondition(_ expression: String) -> Result<Bool, Diagnostic> {
        let lexed = Lexer.split(expression, environment: environment)
        if let e = lexed.errors.first {
            return .failure(Diagnostic(.alert, "failed to parse condition '\(expression)': \(e)"))
        }
        switch Conditions.evaluate(lexed.words.joined(separator: " "), environment: environment) {
        case let .success(v): return .success(v)
        case let .failure(e): return .failure(Diagnostic(.alert, "failed to evaluate condition '\(expression)': \(e)"))
        }
    }

    /// Names accepted by `feature(NAME)`.
    public static let supportedFeatures: Set<String> = Conditions.supportedFeatures
}

/// So that `evaluateCondition` can return `Result<Bool, Diagnostic>`.
extension Diagnostic: Error {}
