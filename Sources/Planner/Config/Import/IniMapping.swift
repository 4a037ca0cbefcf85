import Foundation

/// How each original engine and parameter maps onto polyarchiv's (the README has the same table).
extension IniImporter {
    // MARK: - Sources

    mutating func convertSource(_ name: String, _ section: IniFile.Section) -> YAMLMap? {
        guard let engine = section.option("engine") else {
            errors.error("source `\(name)` has no `engine`", at: section.location)
            return nil
        }
        var map = YAMLMap()
        let original = engine.value.lowercased()
        let secretName = "source-\(name)"
        switch original {
        case "local_files", "rsync":
            map["engine"] = .string("files")
            for option in section.options where option.name != "engine" {
                switch option.name {
                case "source_path": map["path"] = .string(convertTemplate(option))
                case "destination_path": map["destination"] = .string(directory(convertTemplate(option)))
                case "exclude": if !option.value.isEmpty { map["exclude"] = .list([.string(option.value)]) }
                case "include": if !option.value.isEmpty { map["include"] = .list([.string(option.value)]) }
                case "preserve_hard_links": noEquivalent(option, "hard links are kept as separate files")
                default: noEquivalent(option)
                }
            }
        case "remote_files":
            map["engine"] = .string("remote_files")
            for option in section.options where option.name != "engine" {
                switch option.name {
                case "source_url": map["url"] = .string(convertTemplate(option))
                case "destination_path": map["destination"] = .string(directory(convertTemplate(option)))
                case "private_key": map["private_key"] = .string(convertTemplate(option))
                default: noEquivalent(option)
                }
            }
        case "mysql", "postgressql", "postgresql":
            let isMySQL = original == "mysql"
            map["engine"] = .string(isMySQL ? "mysql" : "postgresql")
            for option in section.options where option.name != "engine" {
                switch option.name {
                case "host", "user", "database", "sudo_user": if !option.value.isEmpty { map[option.name] = .string(option.value) }
                case "port": map["port"] = .string(option.value)
                case "password":
                    if !option.value.isEmpty {
                        map["password_file"] = .string(storeSecret(option.value, name: "\(secretName)-password", option: option))
                    }
                case "destination_path": map["destination"] = .string(convertTemplate(option))
                case "dump_executable", "restore_executable":
                    noEquivalent(option, "polyarchiv runs " + (isMySQL ? "mariadb-dump or mysqldump" : "pg_dump") + " from PATH")
                default: noEquivalent(option)
                }
            }
        case "ldap":
            map["engine"] = .string("ldap")
            for option in section.options where option.name != "engine" {
                switch option.name {
                case "destination_path": map["destination"] = .string(convertTemplate(option))
                case "ldap_base": map["suffix"] = .string(option.value)
                case "database": map["database"] = .string(option.value)
                case "use_sudo": noEquivalent(option, "run polyarchiv as a user that may run slapcat")
                default: noEquivalent(option)
                }
            }
        case "dovecot":
            map["engine"] = .string("dovecot")
            for option in section.options where option.name != "engine" {
                switch option.name {
                case "destination_path": map["destination"] = .string(directory(convertTemplate(option)))
                case "user_mask": map["user"] = .string(option.value)  // a mask (`*@example.org`) is one to polyarchiv too
                case "socket": noEquivalent(option, "doveadm finds its server through dovecot.conf: set `config` if it is not the system's")
                default: noEquivalent(option)
                }
            }
        default:
            errors.error("unknown source engine `\(engine.value)`; the original's sources are local_files, remote_files, mysql, "
                         + "postgressql, ldap, dovecot", at: engine.location)
            return nil
        }
        return map
    }

    /// A destination that the original filled as a directory gets the trailing slash polyarchiv uses for trees.
    private func directory(_ path: String) -> String { path.hasSuffix("/") ? path : path + "/" }

    // MARK: - Filters

    mutating func convertFilter(_ name: String, _ section: IniFile.Section, scope: String) -> YAMLMap? {
        guard let engine = section.option("engine") else {
            errors.error("filter `\(name)` has no `engine`", at: section.location)
            return nil
        }
        var map = YAMLMap()
        switch engine.value.lowercased() {
        case "hashes":
            map["engine"] = .string("hashes")
            if name != "hashes" { map["name"] = .string(name) }
            var method = "sha1"  // the original's default
            for option in section.options where option.name != "engine" {
                switch option.name {
                case "method": method = option.value.lowercased()
                case "filename": map["filename"] = .string(option.value)
                default: noEquivalent(option)
                }
            }
            map["method"] = .string(method)
        case "encrypt":
            map["engine"] = .string("encrypt")
            if name != "encrypt" { map["name"] = .string(name) }
            warn("filter `\(name)`: encryption changes from GnuPG to the age format; archives made by the original tool "
                 + "must still be decrypted with gpg", at: engine.location)
            let password = section.option("password")
            let value = password?.value ?? "password"  // the original's default, sadly
            if password == nil {
                warn("filter `\(name)` had no password, so the original used `password`; it is kept in the secret file: "
                     + "change it", at: section.location)
            }
            let option = password ?? IniFile.Option(name: "password", value: value, location: section.location)
            map["passphrase_file"] = .string(storeSecret(value, name: "\(scope)-filter-\(name)-passphrase", option: option))
            for option in section.options where !["engine", "password"].contains(option.name) { noEquivalent(option) }
        default:
            errors.error("unknown filter engine `\(engine.value)`; the original's filters are encrypt and hashes", at: engine.location)
            return nil
        }
        return map
    }

    // MARK: - Hooks

    mutating func convertHook(_ name: String, _ section: IniFile.Section, scope: String) -> YAMLMap? {
        guard let engine = section.option("engine") else {
            errors.error("hook `\(name)` has no `engine`", at: section.location)
            return nil
        }
        var map = YAMLMap()
        let kind = engine.value.lowercased()
        guard ["log", "email", "http"].contains(kind) else {
            errors.error("unknown hook engine `\(engine.value)`; the original's hooks are log, email, http", at: engine.location)
            return nil
        }
        map["engine"] = .string(kind)
        if name != kind { map["name"] = .string(name) }
        let secretName = "\(scope)-hook-\(name)"
        var smtpHost = "localhost", smtpPort = "", encryption = "none"
        for option in section.options where option.name != "engine" {
            switch (kind, option.name) {
            case (_, "events"): map["events"] = .list(list(option.value))
            case ("log", "path"): map["path"] = .string(convertTemplate(option))
            case ("email", "recipient"): map["to"] = .list(list(option.value))
            case ("email", "subject"): map["subject"] = .string(convertTemplate(option))
            case ("email", "content"): map["body"] = .string(convertTemplate(option))
            case ("email", "sender"): map["from"] = .string(convertTemplate(option))
            case ("email", "hostname"): smtpHost = option.value
            case ("email", "port"): smtpPort = option.value == "0" ? "" : option.value
            case ("email", "encryption"): encryption = option.value.lowercased()
            case ("email", "username"), ("http", "username"): map["username"] = .string(option.value)
            case ("email", "password"), ("http", "password"):
                map["password_file"] = .string(storeSecret(option.value, name: "\(secretName)-password", option: option))
            case ("http", "url"): map["url"] = .string(convertTemplate(option))
            case ("http", "method"): map["method"] = .string(option.value.uppercased())
            case ("http", "body"): map["body"] = .string(convertTemplate(option))
            case ("http", "cafile"):
                if option.value.lowercased() == "ignore" {
                    noEquivalent(option, "polyarchiv never turns TLS verification off; give a CA bundle instead")
                } else {
                    map["ca_cert"] = .string(option.value)
                }
            case ("http", "headers"):
                var headers = YAMLMap()
                for token in option.value.split(separator: " ") {
                    let parts = token.split(separator: "=", maxSplits: 1).map { String($0).trimmingCharacters(in: CharacterSet(charactersIn: "\"'")) }
                    if parts.count == 2 { headers[parts[0]] = .string(parts[1]) }
                }
                map["headers"] = .map(headers)
            default: noEquivalent(option)
            }
        }
        if kind == "email" {
            let scheme = encryption == "tls" ? "smtps" : "smtp"
            map["smtp_url"] = .string("\(scheme)://\(smtpHost)" + (smtpPort.isEmpty ? "" : ":\(smtpPort)"))
            if encryption == "starttls" { map["require_tls"] = .string("true") }
        }
        return map
    }

    // MARK: - Backup points

    mutating func convertBackupPoint(_ name: String, _ engine: String, _ point: IniFile.Section) -> YAMLMap {
        var map = YAMLMap()
        map["engine"] = .string(engine)
        var rule = YAMLMap()
        var keep = YAMLMap()
        var restic: (username: IniFile.Option?, secret: IniFile.Option?, extra: [IniFile.Option]) = (nil, nil, [])
        for option in point.options where option.name != "engine" {
            switch (engine, option.name) {
            case (_, "frequency"): if let frequency = convertFrequency(option) { map["frequency"] = .string(frequency) }
            case (_, "backup_point_tags"): map["tags"] = .list(list(option.value))
            case (_, "included_collect_point_tags"): rule["include"] = .list(list(option.value))
            case (_, "excluded_collect_point_tags"): rule["exclude"] = .list(list(option.value))
            case (_, "metadata_url"):
                map["metadata_url"] = .string(takePassword(convertTemplate(option), backupPoint: name, option: option, into: &map))
            case ("restic", "remote_url"): map["repository"] = .string(convertTemplate(option))
            case ("restic", "password"):
                map["password_file"] = .string(storeSecret(option.value, name: "\(name)-password", option: option))
            case ("restic", "remote_username"): restic.username = option
            case ("restic", "remote_secret"): restic.secret = option
            case ("restic", let other) where other.hasPrefix("remote_"): restic.extra.append(option)
            case ("archive", "remote_url"), ("rolling_archive", "remote_url"):
                // Archives have no ssh transport: the original's ssh:// reached the same server as sftp:// does.
                var url = convertTemplate(option)
                if url.lowercased().hasPrefix("ssh://") {
                    url = "sftp://" + url.dropFirst("ssh://".count)
                    warn("backup point `\(name)`: archives are sent over sftp://, not ssh://; `remote_url` became \(url) "
                         + "(the same server, user and key)", at: option.location)
                }
                map["url"] = .string(takePassword(url, backupPoint: name, option: option, into: &map))
            case ("gitlab", "remote_url"):
                noEquivalent(option, "the original replaced it by a URL built from gitlab_url and project_name, and so does polyarchiv")
            case (_, "remote_url"):
                map["url"] = .string(takePassword(gitURL(convertTemplate(option)), backupPoint: name, option: option, into: &map))
            case ("gitlab", "gitlab_url"): map["gitlab_url"] = .string(option.value)
            case ("gitlab", "project_name"): map["project"] = .string(convertTemplate(option))
            case ("gitlab", "api_key"):
                map["token_file"] = .string(storeSecret(option.value, name: "\(name)-token", option: option))
            case ("gitlab", "username"), ("gitlab", "password"):
                noEquivalent(option, "polyarchiv pushes to GitLab with the token, or over ssh with private_key")
            case (_, "private_key"): map["private_key"] = .string(convertTemplate(option))
            case ("git", "commit_email"), ("gitlab", "commit_email"): map["author_email"] = .string(option.value)
            case ("git", "commit_name"), ("gitlab", "commit_name"): map["author_name"] = .string(option.value)
            case ("git", "commit_message"), ("gitlab", "commit_message"): map["commit_message"] = .string(convertTemplate(option))
            case (_, "ca_cert"):
                if option.value.lowercased() == "any" {
                    noEquivalent(option, "polyarchiv never turns TLS verification off; give a CA bundle instead")
                } else {
                    map["ca_cert"] = .string(option.value)
                }
            case ("rolling_archive", "hourly_count"), ("rolling_archive", "daily_count"),
                 ("rolling_archive", "weekly_count"), ("rolling_archive", "yearly_count"):
                keep[String(option.name.dropLast("_count".count))] = .string(option.value)
            default: noEquivalent(option)
            }
        }
        if engine == "rolling_archive" {
            // The original's defaults (from its code, not its documentation); it had no monthly tier.
            for (key, fallback) in [("hourly", "1"), ("daily", "30"), ("weekly", "10"), ("yearly", "20")] where keep[key] == nil {
                keep[key] = .string(fallback)
            }
            var ordered = YAMLMap()
            for key in ["hourly", "daily", "weekly", "yearly"] { ordered[key] = keep[key] }
            map["keep"] = .map(ordered)
            warn("rolling_archive counts become `keep:` with restic's calendar semantics (newest per hour, day, week, year)",
                 at: point.location)
        }
        if engine == "git" || engine == "gitlab" {
            warn("backup point `\(name)`: polyarchiv's repository starts a new history, pushed to branch `main`; the original's "
                 + "`master` is left as it was (a push onto it would be refused: the two histories are unrelated)", at: point.location)
        }
        if engine == "restic" { convertResticCredentials(name, restic, into: &map) }
        if !rule.isEmpty { map["collect_points"] = .map(rule) }
        return map
    }

    /// A password written in a URL (`https://user:secret@host/…`) goes to a secret file named by
    /// `password_file`, and the URL keeps only the user.
    private mutating func takePassword(_ url: String, backupPoint name: String, option: IniFile.Option, into map: inout YAMLMap) -> String {
        guard let scheme = url.range(of: "://") else { return url }
        let rest = url[scheme.upperBound...]
        let authority = rest.prefix { $0 != "/" }
        guard let at = authority.lastIndex(of: "@"), let colon = authority[..<at].firstIndex(of: ":") else { return url }
        let password = String(authority[authority.index(after: colon)..<at]).removingPercentEncoding ?? ""
        guard !password.isEmpty else { return url }
        if case .string(let file)? = map["password_file"] {
            if secrets.first(where: { $0.path == file })?.value != password {
                warn("backup point `\(name)`: `\(option.name)` holds another password than \(file); only that one is used",
                     at: option.location)
            }
        } else {
            map["password_file"] = .string(storeSecret(password, name: "\(name)-password", option: option))
        }
        return String(url[..<scheme.upperBound]) + authority[..<colon] + rest[at...]
    }

    /// `user@host:path.git` (scp style) becomes `ssh://user@host/~/path.git`.
    private func gitURL(_ url: String) -> String {
        guard !url.contains("://"), !url.hasPrefix("/"), let colon = url.firstIndex(of: ":"),
              !url[..<colon].contains("/") else { return url }
        let path = url[url.index(after: colon)...]
        return "ssh://\(url[..<colon])/" + (path.hasPrefix("/") ? String(path.dropFirst()) : "~/" + path)
    }

    /// The original mapped remote_* options onto environment variables by repository type.
    private mutating func convertResticCredentials(_ name: String,
                                                   _ restic: (username: IniFile.Option?, secret: IniFile.Option?, extra: [IniFile.Option]),
                                                   into map: inout YAMLMap) {
        let repository: String
        if case .string(let value)? = map["repository"] { repository = value } else { repository = "" }
        let scheme = repository.split(separator: ":").first.map(String.init) ?? ""
        let names: [String: (user: String, secret: String)] = [
            "s3": ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"), "swift": ("OS_USERNAME", "OS_PASSWORD"),
            "b2": ("B2_ACCOUNT_ID", "B2_ACCOUNT_KEY"), "azure": ("AZURE_ACCOUNT_NAME", "AZURE_ACCOUNT_KEY"),
            "gs": ("GOOGLE_PROJECT_ID", "GOOGLE_APPLICATION_CREDENTIALS"),
        ]
        let extraNames = ["remote_auth_url": "OS_AUTH_URL", "remote_region_name": "OS_REGION_NAME",
                          "remote_user_domain_name": "OS_USER_DOMAIN_NAME", "remote_project_name": "OS_PROJECT_NAME",
                          "remote_project_domain_name": "OS_PROJECT_DOMAIN_NAME"]
        var environment = YAMLMap()
        if let variables = names[scheme] {
            if let user = restic.username, !user.value.isEmpty { environment[variables.user] = .string(user.value) }
            if let secret = restic.secret, !secret.value.isEmpty {
                environment[variables.secret] = .string("${file:" + storeSecret(secret.value, name: "\(name)-remote-secret",
                                                                                 option: secret) + "}")
            }
        } else {
            for option in [restic.username, restic.secret].compactMap({ $0 }) where !option.value.isEmpty {
                noEquivalent(option, "not used for a \(scheme.isEmpty ? "local" : scheme) repository")
            }
        }
        for option in restic.extra where !option.value.isEmpty {
            if scheme == "swift", let variable = extraNames[option.name] {
                environment[variable] = .string(option.value)
            } else {
                noEquivalent(option, "not used for a \(scheme.isEmpty ? "local" : scheme) repository")
            }
        }
        if !environment.isEmpty { map["environment"] = .map(environment) }
    }
}
