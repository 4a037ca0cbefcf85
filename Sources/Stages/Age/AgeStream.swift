import Crypto
import Foundation
import Pipeline

/// The age payload: a 16-byte nonce, then the plaintext in 64 KiB chunks, each sealed with
/// ChaCha20-Poly1305 under a key derived from the file key and that nonce; a chunk's nonce is its
/// 11-byte big-endian number and a last-chunk flag (STREAM).
enum AgeStream {
    static let chunkSize = 64 * 1024
    static let tagSize = 16

    static func payloadKey(_ fileKey: SymmetricKey, nonce: Data) -> SymmetricKey {
        HKDF<SHA256>.deriveKey(inputKeyMaterial: fileKey, salt: nonce, info: Data("payload".utf8), outputByteCount: 32)
    }

    static func chunkNonce(_ counter: UInt64, last: Bool) -> ChaChaPoly.Nonce {
        var bytes = [UInt8](repeating: 0, count: 12)
        for index in 0..<8 { bytes[10 - index] = UInt8(truncatingIfNeeded: counter >> (8 * UInt64(index))) }
        bytes[11] = last ? 1 : 0
        return try! ChaChaPoly.Nonce(data: bytes)
    }
}

/// Encrypts a stream to age recipients: `write` the plaintext in pieces of any size, then `finish`.
final class AgeEncryptor {
    private let sink: (UnsafeRawBufferPointer) throws -> Void
    private let key: SymmetricKey
    private var counter: UInt64 = 0
    private var buffer: [UInt8] = []

    init(recipients: [AgeRecipient], sink: @escaping (UnsafeRawBufferPointer) throws -> Void) throws {
        guard !recipients.isEmpty else { throw StageFailure("age: no recipient to encrypt to") }
        if recipients.count > 1, recipients.contains(where: { if case .scrypt = $0 { true } else { false } }) {
            throw StageFailure("age: a passphrase cannot be combined with other recipients")
        }
        self.sink = sink
        let fileKey = SymmetricKey(size: .bits128)
        var header = AgeHeader(stanzas: try recipients.map { try AgeStanzas.wrap(fileKey, for: $0) })
        header.seal(fileKey)
        let nonce = Data((0..<16).map { _ in UInt8.random(in: 0...255) })
        key = AgeStream.payloadKey(fileKey, nonce: nonce)
        try (header.encoded + nonce).withUnsafeBytes { try sink($0) }
        buffer.reserveCapacity(AgeStream.chunkSize)
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < bytes.count {
            // A full buffer is sealed only once more data arrives: the last chunk must carry the flag.
            if buffer.count == AgeStream.chunkSize { try seal(last: false) }
            let count = min(AgeStream.chunkSize - buffer.count, bytes.count - offset)
            buffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + count)]))
            offset += count
        }
    }

    func finish() throws { try seal(last: true) }

    private func seal(last: Bool) throws {
        let box = try ChaChaPoly.seal(buffer, using: key, nonce: AgeStream.chunkNonce(counter, last: last))
        try box.ciphertext.withUnsafeBytes { try sink($0) }
        try box.tag.withUnsafeBytes { try sink($0) }
        counter += 1
        buffer.removeAll(keepingCapacity: true)
    }
}

/// Decrypts an age stream with identities; the plaintext goes to `sink` chunk by chunk, each one
/// authenticated before it is written.
struct AgeDecryptor {
    let identities: [AgeIdentity]

    struct WrongKey: Error, CustomStringConvertible {
        let description: String
    }

    func decrypt(read: (UnsafeMutableRawBufferPointer) throws -> Int, sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        try withoutActuallyEscaping(read) { read in try decrypt(BufferedSource(read: read), sink: sink) }
    }

    private func decrypt(_ source: BufferedSource, sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        var source = source
        let header = try AgeHeader(parsing: try source.headerText())
        guard let fileKey = try AgeStanzas.unwrap(header.stanzas, with: identities) else {
            let passphrase = header.stanzas.contains { $0.type == "scrypt" }
            throw WrongKey(description: passphrase ? "the passphrase does not open this age file (wrong passphrase?)"
                                                   : "no identity opens this age file (it was encrypted to other recipients)")
        }
        guard header.verify(fileKey) else { throw AgeHeader.Malformed(reason: "its header MAC does not match (tampered with)") }
        let nonce = try source.take(16)
        guard nonce.count == 16 else { throw AgeHeader.Malformed(reason: "it is truncated after the header") }
        let key = AgeStream.payloadKey(fileKey, nonce: Data(nonce))
        let sealed = AgeStream.chunkSize + AgeStream.tagSize
        var counter: UInt64 = 0
        while true {
            try source.fill(sealed + 1)
            let last = source.available <= sealed
            let chunk = try source.take(min(sealed, source.available))
            guard chunk.count >= AgeStream.tagSize else { throw AgeHeader.Malformed(reason: "it is truncated") }
            guard let box = try? ChaChaPoly.SealedBox(nonce: AgeStream.chunkNonce(counter, last: last),
                                                      ciphertext: chunk.dropLast(AgeStream.tagSize),
                                                      tag: chunk.suffix(AgeStream.tagSize)),
                  let plaintext = try? ChaChaPoly.open(box, using: key) else {
                throw AgeHeader.Malformed(reason: "chunk \(counter) does not authenticate (damaged or truncated)")
            }
            if last && plaintext.isEmpty && counter > 0 { throw AgeHeader.Malformed(reason: "an empty last chunk") }
            try plaintext.withUnsafeBytes { try sink($0) }
            if last { return }
            counter += 1
        }
    }

    /// Reads ahead so the decryptor knows whether a chunk is the last one.
    private struct BufferedSource {
        let read: (UnsafeMutableRawBufferPointer) throws -> Int
        var buffer: [UInt8] = []
        var position = 0
        var ended = false

        var available: Int { buffer.count - position }

        mutating func fill(_ count: Int) throws {
            if position > 0 && position >= buffer.count / 2 {
                buffer.removeFirst(position)
                position = 0
            }
            var scratch = [UInt8](repeating: 0, count: 256 * 1024)
            while !ended && available < count {
                let got = try scratch.withUnsafeMutableBytes { try read($0) }
                if got == 0 { ended = true } else { buffer.append(contentsOf: scratch[0..<got]) }
            }
        }

        mutating func take(_ count: Int) throws -> ArraySlice<UInt8> {
            try fill(count)
            let end = min(buffer.count, position + count)
            defer { position = end }
            return buffer[position..<end]
        }

        /// The header's text up to the MAC line (without its final newline).
        mutating func headerText() throws -> String {
            var lines: [String] = []
            var size = 0
            while true {
                guard let newline = buffer[position...].firstIndex(of: 0x0A) else {
                    if ended { throw AgeHeader.Malformed(reason: "it ends inside its header") }
                    guard available <= AgeHeader.maximumSize else { throw AgeHeader.Malformed(reason: "its header is too large") }
                    try fill(available + 4096)
                    continue
                }
                let line = String(decoding: buffer[position..<newline], as: UTF8.self)
                position = newline + 1
                size += line.utf8.count + 1
                lines.append(line)
                if line.hasPrefix("---") { return lines.joined(separator: "\n") }
                guard size <= AgeHeader.maximumSize else { throw AgeHeader.Malformed(reason: "its header is too large") }
            }
        }
    }
}
