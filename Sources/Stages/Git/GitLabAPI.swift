import Foundation
import Pipeline

/// The few GitLab API v4 calls a `gitlab` backup point needs: find the project, or create it (private)
/// in its namespace. The token goes in the PRIVATE-TOKEN header, never in a URL.
struct GitLabAPI {
    let base: String
    let token: String
    let options: TransportOptions

    init(url: String, token: String, caCert: String?) {
        base = (url.hasSuffix("/") ? String(url.dropLast()) : url) + "/api/v4"
        self.token = token
        var options = TransportOptions()
        options.caCert = caCert
        options.retries = 2
        self.options = options
    }

    static func encoded(_ path: String) -> String {
        path.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? path
    }

    /// (HTTP status, JSON object) of one call.
    private func call(_ method: String, _ path: String, form: [(String, String)] = [], cancellation: CancellationFlag) throws -> (Int, [String: Any]) {
        var request = CurlCall(url: base + path, options: options)
        request.method = method
        request.headers = ["PRIVATE-TOKEN: \(token)", "Accept: application/json"]
        if !form.isEmpty {
            request.headers.append("Content-Type: application/x-www-form-urlencoded")
            request.body = Data(form.map { "\($0.0)=\(Self.encoded($0.1))" }.joined(separator: "&").utf8)
        }
        var data = Data()
        let result = try request.perform(cancellation: cancellation) { data.append(contentsOf: $0) }
        guard result.code == .init(0) || result.status > 0 else {
            throw StageFailure("GitLab \(base): \(result.message)")
        }
        let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]
        if result.status == 401 || result.status == 403 {
            throw StageFailure("GitLab \(base) refused the token (HTTP \(result.status)): check `token` and its api scope")
        }
        return (result.status, object)
    }

    /// The project's clone URLs, creating it (private) when it does not exist and `create` is set.
    func project(_ path: String, create: Bool, cancellation: CancellationFlag) throws -> (http: String, ssh: String)? {
        let (status, found) = try call("GET", "/projects/" + Self.encoded(path), cancellation: cancellation)
        if status == 200 { return try urls(found, path) }
        guard status == 404 else { throw StageFailure("GitLab: looking up \(path) answered HTTP \(status)") }
        guard create else { return nil }
        let components = path.split(separator: "/")
        guard components.count >= 2 else { throw StageFailure("gitlab `project` must be namespace/name, not `\(path)`") }
        let namespace = components.dropLast().joined(separator: "/")
        let (namespaceStatus, namespaceObject) = try call("GET", "/namespaces/" + Self.encoded(namespace), cancellation: cancellation)
        guard namespaceStatus == 200, let id = namespaceObject["id"] as? Int else {
            throw StageFailure("GitLab has no namespace \(namespace) (HTTP \(namespaceStatus)); create the group first")
        }
        let name = String(components.last!)
        let (created, project) = try call("POST", "/projects", form: [("name", name), ("path", name), ("namespace_id", String(id)),
                                                                        ("visibility", "private")], cancellation: cancellation)
        guard created == 201 else {
            throw StageFailure("GitLab did not create \(path) (HTTP \(created)): \(project["message"].map { "\($0)" } ?? "")")
        }
        return try urls(project, path)
    }

    private func urls(_ project: [String: Any], _ path: String) throws -> (http: String, ssh: String) {
        guard let http = project["http_url_to_repo"] as? String, let ssh = project["ssh_url_to_repo"] as? String else {
            throw StageFailure("GitLab's answer for \(path) has no clone URL")
        }
        return (http, ssh)
    }
}
