enum BackupPointEngines {
    static let all: [EngineSpec] = [git, gitlab, synchronize, archive, rollingArchive, restic]

    static let commit: [ParameterSpec] = [
        ParameterSpec("branch", .string, default: "main", "Remote branch that receives the backups."),
        ParameterSpec("author_name", .string, default: "{username}", "Author and committer name of backup commits."),
        ParameterSpec("author_email", .string, default: "{username}@{fqdn}", "Author and committer e-mail."),
        ParameterSpec("commit_message", .string, default: "Backup of {name} {Y}-{m}-{d} {H}:{M}", "Commit message."),
    ]

    static let git = EngineSpec("git", .backupPoint,
                                "Pushes to a remote git repository over file://, git://, ssh:// or http(s)://.", implemented: true, parameters: [
        ParameterSpec("url", .url, required: true, "Remote repository URL; should depend on {name}."),
        ParameterSpec("password", .secret, "Password or token for http(s)://."),
        ParameterSpec("password_file", .path, "File whose first line is the password."),
    ] + commit + TransportParameters.ssh,
        exclusive: [["password", "password_file"], ["known_hosts", "host_key_sha256"]],
        resourceKeys: { TransportParameters.hostKey($0.string("url")) })

    static let gitlab = EngineSpec("gitlab", .backupPoint,
                                   "Creates the project through the GitLab API v4 when missing, then pushes to it.", implemented: true,
                                   parameters: [
        ParameterSpec("gitlab_url", .url, required: true, "GitLab base URL, such as https://gitlab.example.org/."),
        ParameterSpec("project", .string, required: true, "namespace/project; should depend on {name}."),
        ParameterSpec("token", .secret, "Personal access token (api scope)."),
        ParameterSpec("token_file", .path, "File whose first line is the token."),
        ParameterSpec("transport", .choice(["https", "ssh"]), default: "https", "How to push."),
        ParameterSpec("ca_cert", .path, "CA bundle for the GitLab server."),
    ] + commit + TransportParameters.ssh,
        exclusive: [["token", "token_file"], ["known_hosts", "host_key_sha256"]], oneOf: [["token", "token_file"]],
        resourceKeys: { TransportParameters.hostKey($0.string("gitlab_url")) })

    static let synchronize = EngineSpec("synchronize", .backupPoint,
                                        "Mirrors the collect point with rsync (folder or ssh://) or WebDAV, deletions included.",
                                        implemented: true, parameters: [
        ParameterSpec("url", .url, required: true, "A folder, file://, ssh://user@host/path or http(s):// WebDAV URL."),
        ParameterSpec("delete", .bool, default: "true", "Delete remote files that are gone locally."),
    ] + TransportParameters.all, exclusive: TransportParameters.exclusive,
        resourceKeys: { TransportParameters.hostKey($0.string("url")) })

    static let archiveParameters: [ParameterSpec] = [
        ParameterSpec("url", .url, required: true,
                      "Where each archive goes (file://, sftp://, scp://, ftp(s)://, http(s):// WebDAV, s3://bucket/prefix); the suffix chooses the format."),
        ParameterSpec("compression_level", .int(1...22), "Compression level (default: the format's own)."),
    ] + TransportParameters.all

    static let archive = EngineSpec("archive", .backupPoint, "One archive of the collect point per run, uploaded atomically.",
                                    implemented: true, parameters: archiveParameters, exclusive: TransportParameters.exclusive,
                                    resourceKeys: { TransportParameters.hostKey($0.string("url")) })

    static let rollingArchive = EngineSpec("rolling_archive", .backupPoint,
                                           "An archive per run, old ones deleted by a retention policy (keep:).", implemented: true, parameters:
        archiveParameters + [
            ParameterSpec("keep", .retention, required: true,
                          "Retention: last, hourly, daily, weekly, monthly, yearly (counts) and within (a duration such as 1y6m)."),
        ], exclusive: TransportParameters.exclusive,
        resourceKeys: { TransportParameters.hostKey($0.string("url")) })

    static let restic = EngineSpec("restic", .backupPoint,
                                   "A restic repository: init when missing, backup, forget --prune by keep:, check.", implemented: true,
                                   parameters: [
        ParameterSpec("repository", .string, required: true, "Any restic repository: a path, sftp:…, s3:…, rest:…"),
        ParameterSpec("password", .secret, "Repository password, given to restic through RESTIC_PASSWORD_FILE."),
        ParameterSpec("password_file", .path, "File whose first line is the repository password."),
        ParameterSpec("keep", .retention, "Retention applied with forget --prune after each backup."),
        ParameterSpec("snapshot_tags", .list, "Tags given to every snapshot."),
        ParameterSpec("environment", .map, "Extra environment for restic (AWS_ACCESS_KEY_ID, …); values may be secrets."),
        ParameterSpec("check", .bool, default: "true", "Run restic check after forget."),
    ], exclusive: [["password", "password_file"]], oneOf: [["password", "password_file"]],
        resourceKeys: { TransportParameters.hostKey($0.string("repository")) })
}
