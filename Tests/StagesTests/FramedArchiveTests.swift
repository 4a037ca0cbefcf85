import Foundation
import Pipeline
import Testing
import TestSupport
@testable import Stages

/// The archive writer cuts the tar stream into frames and copies the unchanged ones from the archive before:
/// the result is the same bytes as an archive made from nothing, and unchanged entries are not read again.
@Suite struct FramedArchiveTests {
    /// 400 small files in four directories, a 9 MiB file (three segments) and a hard link and a symlink.
    struct Fixture {
        let directory: TemporaryDirectory
        let store: ContentStore
        var tree: Tree

        init() throws {
            directory = try TemporaryDirectory("pa-frames")
            store = try ContentStore(root: directory.url.appendingPathComponent("store"))
            var generator = SystemRandomNumberGenerator()
            var entries: [Tree.Entry] = [Tree.Entry(kind: .directory, path: "", mode: 0o755, mtime: 0)]
            for dir in 0..<4 {
                entries.append(Tree.Entry(kind: .directory, path: "d\(dir)", mode: 0o750, mtime: 1_000_000_000_000))
                for file in 0..<100 {
                    let text = String(repeating: "line of file \(file) in d\(dir) \(UInt64.random(in: 0...UInt64.max, using: &generator))\n",
                                      count: 50 + file)
                    let blob = try store.put(Data(text.utf8))
                    entries.append(Tree.Entry(kind: .file, path: "d\(dir)/f\(file).txt", mode: 0o644, size: blob.size, mtime: 1_700_000_000_000_000_000,
                                              digest: blob.digest))
                }
            }
            let random = try FileHandle(forReadingFrom: URL(fileURLWithPath: "/dev/urandom"))
            let large = try random.read(upToCount: 9 << 20 | 123)!
            try random.close()
            let blob = try store.put(large)
            entries.append(Tree.Entry(kind: .file, path: "large.bin", mode: 0o600, size: blob.size, mtime: 5_000_000_000, digest: blob.digest))
            entries.append(Tree.Entry(kind: .file, path: "same.bin", mode: 0o600, size: blob.size, mtime: 5_000_000_000, digest: blob.digest,
                                      hardlink: "large.bin"))
            entries.append(Tree.Entry(kind: .symlink, path: "to-large", mode: 0o777, mtime: 0, target: "large.bin"))
            tree = Tree(entries: entries)
        }

        func archive(_ tree: Tree, format: ArchiveFormat, level: Int? = nil, reuse: FrameIndex? = nil) throws -> (Data, FrameIndex, String) {
            var bytes = Data()
            let store = self.store
            let source = FrameSource(reuse) { index in try store.readFile(index.file, expecting: index.archive) { _ in } }
            let frames = try TarWriter.write(tree, format: format, level: level, store: store, reuse: source, cancellation: CancellationFlag()) {
                bytes.append(contentsOf: $0)
            }
            let file = directory.path("archive-\(UUID().uuidString).\(format.rawValue)")
            try bytes.write(to: URL(fileURLWithPath: file))
            return (bytes, FrameIndex(file: file, archive: Digest.of(bytes), frames: frames), file)
        }

        /// The tree with one small file's content changed.
        func changed() throws -> (Tree, String) {
            let path = "d2/f7.txt"
            let blob = try store.put(Data("changed\n".utf8))
            let entries = tree.entries.map { entry in
                guard entry.path == path else { return entry }
                var copy = entry
                copy.digest = blob.digest
                copy.size = blob.size
                return copy
            }
            return (Tree(entries: entries), path)
        }
    }

    @Test(arguments: ArchiveFormat.allCases)
    func anUnchangedFrameIsCopiedAndNotReadAgain(_ format: ArchiveFormat) throws {
        let fixture = try Fixture()
        let (_, index, _) = try fixture.archive(fixture.tree, format: format)
        #expect(index.frames.count >= 5, "several frames: small files in groups, the large file in segments")
        let (changedTree, changedPath) = try fixture.changed()
        let (fresh, _, freshFile) = try fixture.archive(changedTree, format: format)

        // Every file outside the frames that hold the change leaves the store: the archive can only be made
        // by copying their frames.
        let chunking = ArchiveChunking(changedTree, tag: TarWriter.tag(format: format, level: nil))
        var needed = Set<String>()
        for chunk in chunking.chunks {
            guard case .entries(let range) = chunk.content, range.contains(where: { chunking.entries[$0].path == changedPath }) else { continue }
            for item in range { needed.insert(chunking.entries[item].path) }
        }
        for entry in changedTree.files where !needed.contains(entry.path) {
            if let digest = entry.digest { fixture.store.remove(digest) }
        }
        let (again, _, _) = try fixture.archive(changedTree, format: format, reuse: index)
        #expect(again == fresh, "the same bytes as an archive made from nothing")

        // The system's tar reads it whole (the frames concatenate into one valid compressed stream).
        let restored = fixture.directory.path("restored")
        try FileManager.default.createDirectory(atPath: restored, withIntermediateDirectories: true)
        let extract = try Sandbox.shell("tar -C '\(restored)' -xf '\(freshFile)' && cat '\(restored)/\(changedPath)' && cmp '\(restored)/large.bin' '\(restored)/same.bin' && stat -c %h '\(restored)/same.bin'")
        #expect(extract.status == 0, "\(extract.output)")
        #expect(extract.output == "changed\n2\n")
    }

    @Test func aDamagedEarlierArchiveIsRefusedAndNeverCopiedFrom() throws {
        let fixture = try Fixture()
        let (_, index, file) = try fixture.archive(fixture.tree, format: .tarZstd)
        // One byte in the middle of a frame flipped: same size, other content.
        let frame = index.frames.values.max { $0.length < $1.length }!
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: file))
        let position = UInt64(frame.offset + frame.length / 2)
        try handle.seek(toOffset: position)
        let byte = try handle.read(upToCount: 1)![0]
        try handle.seek(toOffset: position)
        try handle.write(contentsOf: Data([byte ^ 0xff]))
        try handle.close()
        let (changedTree, _) = try fixture.changed()
        #expect {
            _ = try fixture.archive(changedTree, format: .tarZstd, reuse: index)
        } throws: { error in
            (error as? ContentStore.StoreError)?.damagedObject == index.archive
        }
    }

    @Test func aTruncatedEarlierArchiveIsMadeAgainWhereItEnds() throws {
        let fixture = try Fixture()
        let (_, index, file) = try fixture.archive(fixture.tree, format: .tarZstd)
        let last = index.frames.values.max { $0.offset < $1.offset }!
        #expect(truncate(file, off_t(last.offset)) == 0)
        // The shorter file no longer matches its digest: refused as a whole, before the new archive is done.
        let (changedTree, _) = try fixture.changed()
        #expect(throws: ContentStore.StoreError.self) {
            _ = try fixture.archive(changedTree, format: .tarZstd, reuse: index)
        }
    }

    @Test func framesOfAnotherFormatOrLevelAreNeverCopied() throws {
        let fixture = try Fixture()
        let (_, zstdIndex, _) = try fixture.archive(fixture.tree, format: .tarZstd)
        let (gzip, _, _) = try fixture.archive(fixture.tree, format: .tarGzip)
        let (reused, _, _) = try fixture.archive(fixture.tree, format: .tarGzip, reuse: zstdIndex)
        #expect(reused == gzip)
        #expect(try fixture.archive(fixture.tree, format: .tarZstd, level: 9, reuse: zstdIndex).0
                == fixture.archive(fixture.tree, format: .tarZstd, level: 9).0)
    }

    @Test func aLargeFileThatChangedIsReadWholeAndChecked() throws {
        let fixture = try Fixture()
        let (_, index, _) = try fixture.archive(fixture.tree, format: .tarZstd)
        // The large file's bytes change in the store but its entry does not: reading it must fail, whatever the
        // frames say.
        guard let large = fixture.tree.entries.first(where: { $0.path == "large.bin" })?.digest else { Issue.record("no large file"); return }
        let path = fixture.store.path(of: large)
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
        try handle.seek(toOffset: 6 << 20)
        try handle.write(contentsOf: Data([0x42]))
        try handle.close()
        var entries = fixture.tree.entries
        let position = entries.firstIndex { $0.path == "large.bin" }!
        entries[position].mtime += 1
        #expect(throws: ContentStore.StoreError.self) {
            _ = try fixture.archive(Tree(entries: entries), format: .tarZstd, reuse: index)
        }
    }
}
