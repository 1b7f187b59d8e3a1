import NIOCore

/// HAProxy's built-in error responses, byte for byte, and `errorfile` replacements.
public struct ErrorResponses: Sendable {
    static let texts: [Int: (String, String)] = [
        400: ("Bad request", "Your browser sent an invalid request."),
        401: ("Unauthorized", "You need a valid user and password to access this content."),
        403: ("Forbidden", "Request forbidden by administrative rules."),
        404: ("Not Found", "The resource could not be found."),
        405: ("Method Not Allowed", "A request was made of a resource using a request method not supported by that resource"),
        407: ("Unauthorized", "You need a valid user and password to access this content."),
        408: ("Request Time-out", "Your browser didn't send a complete request in time."),
        410: ("Gone", "The resource is no longer available and will not be available again."),
        413: ("Payload Too Large", "The request entity exceeds the maximum allowed."),
        425: ("Too Early", "Your browser sent early data."),
        429: ("Too Many Requests", "You have sent too many requests in a given amount of time."),
        500: ("Internal Server Error", "An internal server error occurred."),
        501: ("Not Implemented", ".The server does not support the functionality required to fulfill the request."),
        502: ("Bad Gateway", "The server returned an invalid or incomplete response."),
        503: ("Service Unavailable", "No server is available to handle this request."),
        504: ("Gateway Time-out", "The server didn't respond in time."),
    ]

    /// The built-in response for `status`, byte for byte as haproxy 2.6 sends it: 400 and 408 come
    /// from its HTTP/1 parser as raw messages (and close the connection); the others pass through
    /// its HTTP layer, which writes header names in lowercase.
    public static func builtin(_ status: Int) -> [UInt8] {
        let (reason, text) = texts[status] ?? texts[500]!
        let body = "<html><body><h1>\(status) \(reason)</h1>\n\(text)\n</body></html>\n"
        let head: String
        if status == 400 || status == 408 {
            head = "HTTP/1.1 \(status) \(reason)\r\nContent-length: \(body.utf8.count)\r\nCache-Control: no-cache\r\nConnection: close\r\nContent-Type: text/html\r\n"
        } else {
            head = "HTTP/1.1 \(status) \(reason)\r\ncontent-length: \(body.utf8.count)\r\ncache-control: no-cache\r\ncontent-type: text/html\r\n"
        }
        return Array((head + "\r\n" + body).utf8)
    }

    private var responses: [Int: ByteBuffer] = [:]
    /// The statuses an `errorfile`/`errorfiles` replaces.
    private var overridden: Set<Int> = []

    /// Built-in messages overridden by the proxy's `errorfile`s.
    public init(overrides: [Int: [UInt8]]) {
        for code in Self.texts.keys {
            responses[code] = ByteBuffer(bytes: overrides[code] ?? Self.builtin(code))
        }
        for (code, bytes) in overrides where responses[code] == nil {
            responses[code] = ByteBuffer(bytes: bytes)
        }
        overridden = Set(overrides.keys)
    }

    /// The configured replacement for `status`, nil when the built-in message applies.
    public func custom(_ status: Int) -> ByteBuffer? {
        overridden.contains(status) ? responses[status] : nil
    }

    public func response(_ status: Int) -> ByteBuffer {
        responses[status] ?? responses[500]!
    }

    /// The response for `status` with one more header line at the end of its head.
    public func response(_ status: Int, extraHeader: String) -> ByteBuffer {
        response(status).insertingHeaderLine(ByteBuffer(string: extraHeader + "\r\n"))
    }
}
