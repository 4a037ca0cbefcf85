import Crypto
import Foundation

/// A SHA-256 digest, written as 64 lowercase hex characters.
public struct Digest: Hashable, Sendable, Codable, Comparable, CustomStringConvertible {
    public let hex: String

    public init?(hex: String) {
        // Bytes, not Characters: trees hold tens of thousands of digests.
        var count = 0
        for byte in hex.utf8 {
            guard (byte >= 0x30 && byte <= 0x39) || (byte >= 0x61 && byte <= 0x66) else { return nil }
            count += 1
        }
        guard count == 64 else { return nil }
        self.hex = hex
    }

    init(_ digest: SHA256.Digest) {
        let digits = Array("0123456789abcdef".utf8)
        self.hex = String(unsafeUninitializedCapacity: 64) { buffer in
            var index = 0
            for byte in digest {
                buffer[index] = digits[Int(byte >> 4)]
                buffer[index + 1] = digits[Int(byte & 0x0f)]
                index += 2
            }
            return 64
        }
    }

    public var description: String { hex }
    public var short: String { String(hex.prefix(12)) }

    public static func < (lhs: Digest, rhs: Digest) -> Bool { lhs.hex < rhs.hex }

    public static func of(_ data: Data) -> Digest { Digest(SHA256.hash(data: data)) }
    public static func of(_ text: String) -> Digest { of(Data(text.utf8)) }

    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let digest = Digest(hex: text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not a SHA-256 digest"))
        }
        self = digest
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(hex)
    }
}

/// SHA-256 over a stream of bytes.
public struct StreamingHash {
    private var hasher = SHA256()
    public private(set) var count: Int64 = 0

    public init() {}

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        hasher.update(bufferPointer: bytes)
        count += Int64(bytes.count)
    }

    public mutating func update(_ data: Data) {
        data.withUnsafeBytes { update($0) }
    }

    public func finalize() -> Digest { Digest(hasher.finalize()) }
}

/// HMAC-SHA256 with the state directory's key: how secrets enter cache keys without being stored.
public struct Fingerprinter: Sendable {
    private let keyData: Data

    public init(keyData: Data) { self.keyData = keyData }

    public func fingerprint(_ text: String) -> String {
        HMAC<SHA256>.authenticationCode(for: Data(text.utf8), using: SymmetricKey(data: keyData))
            .map { String(format: "%02x", $0) }.joined()
    }
}
