import Foundation
import Pipeline

/// Writes a tree as a tar archive (compressed by format) into any byte sink. Entries come in the tree's
/// sorted order with only their mode, size, mtime and owner, so the same tree always gives the same bytes.
///
/// The tar stream is cut into frames (`ArchiveChunking`), compressed on their own on worker threads and
/// written in order; a frame whose content an earlier archive already holds (`reuse`) is copied from it,
/// checked against its digest, instead of being made again: an archive of a tree where 1% changed reads and
/// compresses about 1%. Call it on a blocking thread.
public enum TarWriter {
    /// Receives the archive's bytes, in order, on a thread of its own (it hashes and writes while the frames
    /// are made).
    public typealias Sink = (UnsafeRawBufferPointer) throws -> Void

    /// libarchive converts UTF-8 names through the C library's locale; in the default "C" locale a
    /// non-ASCII name does not convert and libarchive 3.6 crashes on it. A UTF-8 character type fixes both.
    private static let utf8Locale: Void = {
        if setlocale(LC_CTYPE, "C.UTF-8") == nil { _ = setlocale(LC_CTYPE, "en_US.UTF-8") }
    }()

    static func useUTF8Locale() { _ = utf8Locale }

    /// What shapes the bytes besides the tree: frames with the same key and tag are interchangeable.
    static func tag(format: ArchiveFormat, level: Int?) -> String {
        "polyarchiv-frames 1 \(format.rawValue) level \(level.map(String.init) ?? "default")"
    }

    /// Returns where each frame went in the output (for the next archive's `reuse`).
    @discardableResult
    static func write(_ tree: Tree, format: ArchiveFormat, level: Int?, store: ContentStore, reuse previous: FrameSource? = nil,
                      cancellation: CancellationFlag, sink: @escaping Sink) throws -> [String: FrameIndex.Frame] {
        let output = OrderedWorkers<[UInt8], Void>(threads: 1, window: 4) { bytes in try bytes.withUnsafeBytes { try sink($0) } }
        defer { output.finish() }
        let frames = try write(tree, format: format, level: level, store: store, reuse: previous, cancellation: cancellation) { bytes in
            _ = try output.submit(.work(bytes))
        }
        _ = try output.drain()
        return frames
    }

    private static func write(_ tree: Tree, format: ArchiveFormat, level: Int?, store: ContentStore, reuse previous: FrameSource?,
                              cancellation: CancellationFlag, output: ([UInt8]) throws -> Void) throws -> [String: FrameIndex.Frame] {
        let chunking = ArchiveChunking(tree, tag: tag(format: format, level: level))
        // Copied frames count only once the archive they come from is checked whole.
        var previousChecked: BackgroundCheck?
        let chunks = chunking.chunks
        struct Made {
            /// nil: the earlier frame was gone, and the chunk must be made again.
            let bytes: [UInt8]?
            let chunk: Int?
        }
        enum FrameJob {
            case compress([UInt8], chunk: Int?)
            case copy(chunk: Int)
        }
        func compressed(_ bytes: [UInt8], chunk: Int?) throws -> Made {
            Made(bytes: try FrameCompressor.compress(bytes, format: format, level: level), chunk: chunk)
        }
        // An xz compressor at its default level needs about 100 MB: one at a time.
        let threads = format == .tarXz ? 1 : min(4, max(2, ProcessInfo.processInfo.activeProcessorCount))
        let workers = OrderedWorkers<FrameJob, Made>(threads: threads) { job in
            switch job {
            case let .compress(bytes, chunk): return try compressed(bytes, chunk: chunk)
            case let .copy(chunk):
                // Read back here, on a worker, beside the compression of what changed.
                return Made(bytes: previous?.frame(chunks[chunk].key), chunk: chunk)
            }
        }
        defer { workers.finish() }
        var frames: [String: FrameIndex.Frame] = [:]
        var offset: Int64 = 0
        func emit(_ made: [Made]) throws {
            for var frame in made {
                if frame.bytes == nil, let chunk = frame.chunk {
                    // An earlier frame that is not there: this chunk alone, made again from its entries, in its place.
                    frame = try compressed(try tarBytes(of: chunks[chunk], chunking, store: store, cancellation: cancellation), chunk: chunk)
                }
                guard let bytes = frame.bytes else { continue }
                try output(bytes)
                if let chunk = frame.chunk {
                    frames[chunks[chunk].key] = FrameIndex.Frame(offset: offset, length: Int64(bytes.count))
                }
                offset += Int64(bytes.count)
            }
        }

        let stream = try TarStream()
        var index = 0
        while index < chunks.count {
            try cancellation.check()
            if let previous, previous.has(chunks[index].key) {
                if previousChecked == nil { previousChecked = BackgroundCheck(previous.check) }
                try emit(try workers.submit(.work(.copy(chunk: index))))
                index += 1
                continue
            }
            switch chunks[index].content {
            case .entries(let range):
                try writeEntries(range, chunking, stream: stream, store: store)
                try emit(try workers.submit(.work(.compress(stream.take(), chunk: index))))
                index += 1
            case .segment(let item, _, let data, _):
                // This segment and every later one of the same file, in one read of the file (its digest is
                // checked at the end of it, before the archive can be finished).
                let first = index
                while index < chunks.count, case .segment(item, _, _, _) = chunks[index].content { index += 1 }
                var next = first
                try writeSegments(Array(chunks[first..<index]), of: chunking.entries[item], from: data.lowerBound, stream: stream,
                                  store: store, cancellation: cancellation) { bytes in
                    try emit(try workers.submit(.work(.compress(bytes, chunk: next))))
                    next += 1
                }
            }
        }
        try stream.close()
        try emit(try workers.submit(.work(.compress(stream.take(), chunk: nil))))
        try emit(try workers.drain())
        try previousChecked?.wait()
        return frames
    }

    private static func writeEntries(_ range: Range<Int>, _ chunking: ArchiveChunking, stream: TarStream, store: ContentStore) throws {
        for item in range {
            let entry = chunking.entries[item]
            try stream.header(entry, link: chunking.links[item])
            if entry.kind == .file, chunking.links[item] == nil { try store.read(entry) { try stream.data($0) } }
            try stream.finishEntry()
        }
    }

    /// The tar bytes of one chunk on their own.
    private static func tarBytes(of chunk: ArchiveChunk, _ chunking: ArchiveChunking, store: ContentStore,
                                 cancellation: CancellationFlag) throws -> [UInt8] {
        let stream = try TarStream()
        switch chunk.content {
        case .entries(let range):
            try writeEntries(range, chunking, stream: stream, store: store)
            return stream.take()
        case .segment(let item, _, let data, _):
            var bytes: [UInt8] = []
            try writeSegments([chunk], of: chunking.entries[item], from: data.lowerBound, stream: stream, store: store,
                              cancellation: cancellation) { bytes = $0 }
            return bytes
        }
    }

    /// The segments of one large file from data offset `start` on, each handed to `made` when complete: the
    /// bytes before `start` (and the header, when it is not 0) and after the last segment asked for are read
    /// for the digest's sake and dropped.
    private static func writeSegments(_ segments: [ArchiveChunk], of entry: Tree.Entry, from start: Int64, stream: TarStream,
                                      store: ContentStore, cancellation: CancellationFlag, made: ([UInt8]) throws -> Void) throws {
        var pending = segments[...]
        stream.discarding = start > 0
        defer { stream.discarding = false }
        try stream.header(entry, link: nil)
        var position: Int64 = 0
        try store.read(entry) { chunk in
            try cancellation.check()
            var rest = chunk
            while !rest.isEmpty {
                guard let current = pending.first, case .segment(_, _, let range, let last) = current.content else {
                    return try stream.data(rest)
                }
                if position < start {
                    let skip = Int(min(Int64(rest.count), start - position))
                    try stream.data(UnsafeRawBufferPointer(rebasing: rest[..<skip]))
                    position += Int64(skip)
                    rest = UnsafeRawBufferPointer(rebasing: rest[skip...])
                    if position == start { stream.discarding = false }
                    continue
                }
                // Up to the segment's end (or everything, in the last one, which also takes the padding).
                let take = last ? rest.count : Int(min(Int64(rest.count), range.upperBound - position))
                try stream.data(UnsafeRawBufferPointer(rebasing: rest[..<take]))
                position += Int64(take)
                rest = UnsafeRawBufferPointer(rebasing: rest[take...])
                if !last && position == range.upperBound {
                    try made(stream.take())
                    pending = pending.dropFirst()
                    if pending.isEmpty { stream.discarding = true }
                }
            }
        }
        try stream.finishEntry()
        if pending.isEmpty {
            _ = stream.take()
        } else {
            try made(stream.take())
        }
    }
}
