import Foundation
import Pipeline

/// How a hook reaches an HTTP server: basic auth, a CA bundle, a timeout (the `http` and `pushgateway` hooks).
struct HTTPAccess: Sendable {
    static let parameters = [
        ParameterSpec("username", .string, "Basic auth user."),
        ParameterSpec("password", .secret, "Basic auth password."),
        ParameterSpec("password_file", .path, "File whose first line is the password."),
        ParameterSpec("ca_cert", .path, "CA bundle for https://."),
        ParameterSpec("timeout", .duration, default: "30s", "Request timeout."),
    ]

    let username: String?
    let password: Secret?
    let caCert: String?
    let timeout: Int?

    init(_ parameters: EngineParameters) {
        username = parameters.string("username")
        password = parameters.secret("password")
        caCert = parameters.string("ca_cert")
        timeout = parameters.seconds("timeout")
    }

    func apply(to request: inout HTTPRequest, _ secrets: Secrets) throws {
        request.username = username
        request.password = try password.map { try secrets.reveal($0) }
        request.caCert = caCert
        if let timeout { request.timeout = timeout }
    }
}
