enum CollectPointEngines {
    static let all: [EngineSpec] = [files, git, archive]

    static let path = ParameterSpec("path", .path, required: true, "Local directory the collect point keeps its data in.")

    static let files = EngineSpec("files", .collectPoint, "A plain folder holding the collected tree.", implemented: true, parameters: [path])

    static let git = EngineSpec("git", .collectPoint,
                                "A local git repository: one commit per run, only when something changed.", implemented: true,
                                parameters: [
        path,
        ParameterSpec("author_name", .string, default: "{username}", "Author and committer name."),
        ParameterSpec("author_email", .string, default: "{username}@{fqdn}", "Author and committer e-mail."),
        ParameterSpec("commit_message", .string, default: "Backup {Y}-{m}-{d} {H}:{M}", "Commit message."),
        ParameterSpec("branch", .string, default: "main", "Branch that receives the commits."),
    ])

    static let archive = EngineSpec("archive", .collectPoint,
                                    "A tar archive of the collected tree (.tar.gz, .tar.bz2, .tar.xz or .tar.zst).", implemented: true, parameters: [
        path,
        ParameterSpec("archive_name", .string, default: "{name}.tar.zst",
                      "Archive file name inside path; its suffix chooses the compression."),
        ParameterSpec("compression_level", .int(1...22), "Compression level (default: the format's own)."),
    ])
}
