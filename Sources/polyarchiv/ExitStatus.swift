/// The exit statuses of every command, in one place (the README's table is this one).
enum ExitStatus {
    /// Everything succeeded (or was skipped, or was cached).
    static let ok: Int32 = 0
    /// The configuration is invalid, or a command could not start (nothing ran).
    static let configuration: Int32 = 1
    /// A stage failed or was blocked (apply, restore), or work is pending (plan --detailed-exitcode).
    static let failed: Int32 = 2
    /// The backups stand, but hooks (or the metrics file) failed, or entries that could not be read were left out.
    static let hooksOnly: Int32 = 3
    /// A wrong command line (an unknown option, a missing value).
    static let usage: Int32 = 64
    /// Another polyarchiv holds the state directory's lock: try again later (EX_TEMPFAIL).
    static let locked: Int32 = 75
    /// Interrupted by SIGINT or SIGTERM.
    static let interrupted: Int32 = 130
}
