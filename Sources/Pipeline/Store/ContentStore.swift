import Foundation

/// Blobs addressed by their SHA-256, under `<state>/store/objects/ab/cdef…`. A blob is written to a
/// temporary file while it is hashed, then renamed into place, so an object is whole or absent.
/// Reads verify the digest; a corrupt object is deleted and reported, never passed on.
///
/// A tree's files need not be copied into the store: a tree placed in a directory (a source, a collect
/// point) names its blobs by digest and finds their bytes there, checked against the digest when read.
/// A file this process hashed in this run, and that has not changed since (same identity), is not hashed
/// again.
public final class ContentStore: Sendable {
    public let root: URL
    let objects: URL
    let temporary: URL
    let verified = VerifiedFiles()
    let memory = StoreMemory()

    /// How many objects this store value added (a run that added none has nothing new to collect).
    public var addedObjects: Int { memory.addedObjects }

    public enum StoreError: Error, CustomStringConvertible {
        case corrupt(Digest, path: String)
        case missing(Digest)
        case io(String)
        /// A file of a placed tree (a source, a collect point) is gone or no longer holds its blob.
        case changed(Digest, path: String)

        /// The object a corrupt or missing error is about.
        public var damagedObject: Digest? {
            switch self {
            case .corrupt(let digest, _), .missing(let digest), .changed(let digest, _): return digest
            case .io: return nil
            }
        }

        public var description: String {
            switch self {
            case let .corrupt(digest, path):
                return "store object \(digest.short) at \(path) is corrupt (its content no longer matches its digest); it was discarded and will be made again"
            case .missing(let digest): return "store object \(digest.short) is missing; it will be made again"
            case .io(let what): return what
            case let .changed(digest, path):
                return "\(path) no longer holds what was read (\(digest.short)): it changed or was damaged since; it will be read again"
            }
        }
    }

    /// `create`: make the directories (a run); without, nothing is written (`plan` reads a store as it is).
    public init(root: URL, create: Bool = true) throws {
        self.root = root
        self.objects = root.appendingPathComponent("objects")
        self.temporary = root.appendingPathComponent("tmp")
        for directory in [objects, temporary] where create {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
        }
    }

    public func path(of digest: Digest) -> String {
        objects.appendingPathComponent(String(digest.hex.prefix(2))).appendingPathComponent(String(digest.hex.dropFirst(2))).path
    }

    public func contains(_ digest: Digest) -> Bool {
        FileManager.default.fileExists(atPath: path(of: digest))
    }

    /// The size of a stored object, or nil when it is absent.
    public func size(of digest: Digest) -> Int64? {
        var info = stat()
        guard stat(path(of: digest), &info) == 0 else { return nil }
        return Int64(info.st_size)
    }

    /// Removes temporary files left by a killed run. Call it while holding the state lock.
    public func removeTemporaryFiles() {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: temporary.path)) ?? []
        for name in names { unlink(temporary.appendingPathComponent(name).path) }
    }

    public func makeWriter() throws -> BlobWriter {
        try BlobWriter(store: self)
    }

    /// Stores `data` (small things: manifests, indexes); nothing is written when the store holds it already.
    @discardableResult
    public func put(_ data: Data) throws -> Artifact {
        let digest = Digest.of(data)
        if size(of: digest) == Int64(data.count) { return Artifact(kind: .blob, digest: digest, size: Int64(data.count)) }
        let writer = try makeWriter()
        try writer.write(data)
        return try writer.finish()
    }

    /// Reads a whole small object, verified.
    public func data(of digest: Digest) throws -> Data {
        var result = Data()
        try read(digest) { result.append(contentsOf: $0) }
        return result
    }

    /// Streams an object through `body` in chunks, hashing as it goes; throws `corrupt` (after deleting
    /// the object) when the bytes do not match the digest.
    public func read(_ digest: Digest, chunkSize: Int = 1 << 20, _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        let file = path(of: digest)
        let descriptor = open(file, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            if errno == ENOENT { throw StoreError.missing(digest) }
            throw StoreError.io("cannot open store object \(file): \(String(cString: strerror(errno)))")
        }
        defer { close(descriptor) }
        var info = stat()
        let size = fstat(descriptor, &info) == 0 ? Int64(info.st_size) : Int64(chunkSize)
        guard try Self.drain(descriptor, size: size, chunkSize: chunkSize, what: "store object \(file)", hashing: true, body) == digest else {
            unlink(file)
            memory.forget(digest)
            throw StoreError.corrupt(digest, path: file)
        }
        if let identity = FileIdentity(descriptor: descriptor) { verified.note(file, digest, identity) }
    }

    /// Reads a descriptor to its end through `body`, and the SHA-256 of what it read (nil unless `hashing`).
    /// The buffer is no larger than the file: a fresh 1 MiB buffer per small file would cost an mmap and
    /// page faults each time.
    /// `limit`: read no further than that many bytes (nil: to the end).
    private static func drain(_ descriptor: Int32, size: Int64, limit: Int64? = nil, chunkSize: Int, what: String, hashing: Bool,
                              _ body: (UnsafeRawBufferPointer) throws -> Void) throws -> Digest? {
        var hash = StreamingHash()
        let length = max(4096, min(chunkSize, Int(clamping: size) + 1))
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: length, alignment: 16)
        defer { buffer.deallocate() }
        var remaining = limit ?? Int64.max
        while remaining > 0 {
            let count = Glibc.read(descriptor, buffer.baseAddress, Int(min(Int64(length), remaining)))
            if count < 0 {
                if errno == EINTR { continue }
                throw StoreError.io("cannot read \(what): \(FileIO.lastError)")
            }
            if count == 0 { break }
            remaining -= Int64(count)
            let chunk = UnsafeRawBufferPointer(rebasing: buffer[0..<count])
            if hashing { hash.update(chunk) }
            try body(chunk)
        }
        return hashing ? hash.finalize() : nil
    }

    /// Streams an entry's bytes: from where its tree is placed when it has a source (checked against the
    /// digest unless this process verified that very file in this run), else from the store.
    public func read(_ entry: Tree.Entry, chunkSize: Int = 1 << 20, _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        guard let digest = entry.digest else { return }
        guard let source = entry.source else { return try read(digest, chunkSize: chunkSize, body) }
        try readFile(source, expecting: digest, size: entry.size, chunkSize: chunkSize, body)
    }

    /// Streams a file that must hold `digest`; `changed` (and the file noted as damaged) when it does not.
    /// `size`: what the tree recorded; no more is read (a log appended to since gives the bytes it had then).
    public func readFile(_ path: String, expecting digest: Digest, size: Int64? = nil, chunkSize: Int = 1 << 20,
                         _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        // O_NONBLOCK: a FIFO put in the file's place cannot hold the run; it is refused below.
        let descriptor = open(FileName.system(path), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY)
        guard descriptor >= 0 else {
            if errno == ENOENT || errno == ELOOP { throw StoreError.changed(digest, path: path) }
            throw StoreError.io("cannot read \(path): \(FileIO.lastError)")
        }
        defer { close(descriptor) }
        guard let before = FileIdentity(descriptor: descriptor) else { throw StoreError.io("cannot read \(path): \(FileIO.lastError)") }
        guard before.isRegularFile else { throw StoreError.changed(digest, path: path) }
        let trusted = verified.isVerified(path, digest, before)
        let found = try Self.drain(descriptor, size: before.size, limit: size, chunkSize: chunkSize, what: path, hashing: !trusted, body)
        let after = FileIdentity(descriptor: descriptor)
        if trusted ? after != before : found != digest {
            verified.noteDamaged(path, before)
            throw StoreError.changed(digest, path: path)
        }
        if !trusted, let after { verified.note(path, digest, after) }
    }

    /// Records that the file at `path` holds `digest` (this process just wrote or hashed it).
    public func noteVerified(_ path: String, _ digest: Digest) {
        if let identity = FileIdentity(path: path) { verified.note(path, digest, identity) }
    }

    /// Records that a file was trusted without being read (a stat cache says it did not change): what
    /// holds for the stat cache holds for the stages after it in this run.
    public func noteTrusted(_ path: String, _ digest: Digest, _ identity: FileIdentity) {
        verified.note(path, digest, identity)
    }

    /// Whether this run found the file at `path` not to hold what it should.
    public func isDamaged(_ path: String) -> Bool { verified.isDamaged(path) }

    /// Whether this process verified (or trusted) the file at `path` to hold `digest`, as it is now.
    public func isVerified(_ path: String, _ digest: Digest) -> Bool {
        FileIdentity(path: path).map { verified.isVerified(path, digest, $0) } ?? false
    }

    /// The same, for the file open at `descriptor` (one `fstat`, no path lookup).
    public func isVerified(_ path: String, _ digest: Digest, descriptor: Int32) -> Bool {
        FileIdentity(descriptor: descriptor).map { verified.isVerified(path, digest, $0) } ?? false
    }

    /// Checks an object against its digest, unless this run wrote or checked it and it did not change since.
    public func ensureVerified(_ digest: Digest) throws {
        if isVerified(path(of: digest), digest) { return }
        try read(digest) { _ in }
    }

    /// Checks an entry's bytes against its digest (where its tree is placed, or in the store), unless this
    /// run did already.
    public func ensureVerified(_ entry: Tree.Entry) throws {
        guard let digest = entry.digest else { return }
        guard let source = entry.source else { return try ensureVerified(digest) }
        if isVerified(source, digest) { return }
        try readFile(source, expecting: digest) { _ in }
    }

    /// Hashes an object without using it; a corrupt one is deleted.
    public func verify(_ digest: Digest) -> Bool {
        (try? read(digest) { _ in }) != nil
    }

    /// The objects among `artifacts` (blobs, tree manifests and the blobs they name) that are missing or
    /// corrupt; corrupt ones are deleted. Only called after a stage found damage: it reads everything.
    public func damagedObjects(among artifacts: [Artifact]) -> [Digest] {
        var damaged: [Digest] = []
        var seen = Set<Digest>()
        func check(_ digest: Digest) -> Bool {
            guard seen.insert(digest).inserted else { return true }
            if verify(digest) { return true }
            damaged.append(digest)
            return false
        }
        for artifact in artifacts {
            switch artifact.kind {
            case .blob: _ = check(artifact.digest)
            case .tree:
                guard check(artifact.digest), let tree = try? tree(artifact) else { continue }
                for entry in tree.files {
                    guard let digest = entry.digest, seen.insert(digest).inserted else { continue }
                    do {
                        try read(entry) { _ in }
                    } catch {
                        damaged.append(digest)
                    }
                }
            case .remote: continue
            }
        }
        return damaged
    }

    /// Every object in the store.
    public func allObjects() -> [Digest] {
        var result: [Digest] = []
        let prefixes = (try? FileManager.default.contentsOfDirectory(atPath: objects.path)) ?? []
        for prefix in prefixes {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: objects.appendingPathComponent(prefix).path)) ?? []
            for name in names { if let digest = Digest(hex: prefix + name) { result.append(digest) } }
        }
        return result
    }

    /// A new temporary path inside the store, for tools that write a file themselves (then `adopt` it).
    public func temporaryPath(_ hint: String) -> String {
        temporary.appendingPathComponent("\(hint)-\(getpid())-\(UUID().uuidString)").path
    }

    /// Moves a finished file (on the store's file system) into the store, hashing it once.
    public func adopt(_ path: String, location: String? = nil) throws -> Artifact {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw StoreError.io("cannot open \(path): \(String(cString: strerror(errno)))") }
        var hash = StreamingHash()
        let size = 1 << 20
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            let count = Glibc.read(descriptor, buffer.baseAddress, size)
            if count < 0 && errno == EINTR { continue }
            if count < 0 {
                let reason = FileIO.lastError
                close(descriptor)
                unlink(path)
                throw StoreError.io("cannot read \(path): \(reason)")
            }
            if count == 0 { break }
            hash.update(UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
        }
        close(descriptor)
        let digest = hash.finalize()
        try install(temporaryPath: path, as: digest)
        noteVerified(self.path(of: digest), digest)
        return Artifact(kind: .blob, digest: digest, size: hash.count, location: location)
    }

    public func remove(_ digest: Digest) {
        memory.forget(digest)
        unlink(path(of: digest))
    }

    func install(temporaryPath: String, as digest: Digest) throws {
        let final = path(of: digest)
        memory.noteAdded()
        // Renaming over an existing object is harmless: it has the same content.
        if rename(temporaryPath, final) == 0 { return }
        if errno == ENOENT {
            mkdir((final as NSString).deletingLastPathComponent, 0o700)
            if rename(temporaryPath, final) == 0 { return }
        }
        let reason = String(cString: strerror(errno))
        unlink(temporaryPath)
        throw StoreError.io("cannot move a new object into the store at \(final): \(reason)")
    }
}

/// Writes one blob: bytes go to a temporary file and through SHA-256 at once; `finish` renames the file
/// to its digest. Abandoned writers delete their temporary file.
public final class BlobWriter: @unchecked Sendable {
    let store: ContentStore
    let temporaryPath: String
    private var descriptor: Int32
    private var hash = StreamingHash()
    private var finished = false

    init(store: ContentStore) throws {
        self.store = store
        temporaryPath = store.temporary.appendingPathComponent("blob-\(getpid())-\(UUID().uuidString)").path
        descriptor = open(temporaryPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw ContentStore.StoreError.io("cannot create a file in the store (\(temporaryPath)): \(String(cString: strerror(errno)))")
        }
    }

    deinit {
        if !finished {
            close(descriptor)
            unlink(temporaryPath)
        }
    }

    public var count: Int64 { hash.count }

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        hash.update(bytes)
        try FileIO.writeAll(descriptor, bytes, what: "to the store at \(store.root.path)")
    }

    public func write(_ data: Data) throws {
        try data.withUnsafeBytes { try write($0) }
    }

    /// Closes, names the blob by its digest and returns it.
    public func finish(location: String? = nil) throws -> Artifact {
        precondition(!finished, "finish called twice")
        finished = true
        close(descriptor)
        let digest = hash.finalize()
        try store.install(temporaryPath: temporaryPath, as: digest)
        // Hashed as it was written: checked, as long as it stays as it is.
        store.noteVerified(store.path(of: digest), digest)
        return Artifact(kind: .blob, digest: digest, size: hash.count, location: location)
    }
}
