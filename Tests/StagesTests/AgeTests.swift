import Foundation
import Testing
import TestSupport
@testable import Stages

/// Our age implementation judged by the `age` program, both ways, at the chunk boundaries.
@Suite(.serialized) struct AgeTests {
    let scratch: TemporaryDirectory
    var directory: String { scratch.path }

    init() throws {
        scratch = try TemporaryDirectory("pa-age")
    }

    static let tools = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Tools").path

    @discardableResult
    func shell(_ command: String) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// Skips (or fails under CI=true) when the age program is missing.
    func ageAvailable() throws -> Bool {
        if try shell("command -v age && command -v age-keygen").status == 0 { return true }
        if ProcessInfo.processInfo.environment["CI"] == "true" { Issue.record("the age program is missing: apt-get install age") }
        print("skipped: the age program is missing (apt-get install age)")
        return false
    }

    func encrypt(_ plaintext: Data, to recipients: [AgeRecipient]) throws -> Data {
        var output = Data()
        let encryptor = try AgeEncryptor(recipients: recipients) { output.append(contentsOf: $0) }
        // Uneven pieces, so chunking does not depend on how the data arrives.
        var offset = 0
        var piece = 1
        while offset < plaintext.count {
            let end = min(plaintext.count, offset + piece)
            try plaintext[offset..<end].withUnsafeBytes { try encryptor.write($0) }
            offset = end
            piece = piece * 3 + 7
        }
        try encryptor.finish()
        return output
    }

    func decrypt(_ ciphertext: Data, with identities: [AgeIdentity]) throws -> Data {
        var output = Data()
        var offset = 0
        try AgeDecryptor(identities: identities).decrypt(read: { buffer in
            let count = min(buffer.count, ciphertext.count - offset, 10_000)
            ciphertext.copyBytes(to: buffer.bindMemory(to: UInt8.self), from: offset..<(offset + count))
            offset += count
            return count
        }, sink: { output.append(contentsOf: $0) })
        return output
    }

    static let sizes = [0, 1, 65_535, 65_536, 65_537, 131_072, 200_000]

    func payload(_ size: Int) -> Data { Data((0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 8) }) }

    @Test(arguments: sizes) func ourX25519FilesOpenWithAge(size: Int) throws {
        guard try ageAvailable() else { return }
        try shell("age-keygen -o '\(directory)/key.txt' 2>/dev/null")
        let recipient = try shell("age-keygen -y '\(directory)/key.txt'").output.trimmingCharacters(in: .whitespacesAndNewlines)
        let plaintext = payload(size)
        try encrypt(plaintext, to: [try AgeRecipient.parse(recipient, origin: "test")]).write(to: URL(fileURLWithPath: directory + "/f.age"))
        let result = try shell("age -d -i '\(directory)/key.txt' -o '\(directory)/f' '\(directory)/f.age'")
        #expect(result.status == 0, "\(result.output)")
        // age creates its output lazily: an empty plaintext leaves no file.
        #expect(((try? Data(contentsOf: URL(fileURLWithPath: directory + "/f"))) ?? Data()) == plaintext)
    }

    @Test(arguments: sizes) func ageFilesOpenWithOurs(size: Int) throws {
        guard try ageAvailable() else { return }
        try shell("age-keygen -o '\(directory)/key.txt' 2>/dev/null")
        let recipient = try shell("age-keygen -y '\(directory)/key.txt'").output.trimmingCharacters(in: .whitespacesAndNewlines)
        let plaintext = payload(size)
        try plaintext.write(to: URL(fileURLWithPath: directory + "/f"))
        #expect(try shell("age -r \(recipient) -o '\(directory)/f.age' '\(directory)/f'").status == 0)
        let ciphertext = try Data(contentsOf: URL(fileURLWithPath: directory + "/f.age"))
        #expect(try decrypt(ciphertext, with: try AgeIdentity.parseFile(directory + "/key.txt")) == plaintext)
    }

    @Test func passphrasesWorkBothWays() throws {
        guard try ageAvailable() else { return }
        let plaintext = payload(70_000)
        let ours = try encrypt(plaintext, to: [.scrypt(passphrase: "correct horse", workFactor: 12)])
        try ours.write(to: URL(fileURLWithPath: directory + "/ours.age"))
        let opened = try shell("python3 '\(Self.tools)/age_with_passphrase.py' 'correct horse' -d -o '\(directory)/ours' '\(directory)/ours.age'")
        #expect(opened.status == 0, "\(opened.output)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: directory + "/ours")) == plaintext)

        try plaintext.write(to: URL(fileURLWithPath: directory + "/theirs"))
        let made = try shell("python3 '\(Self.tools)/age_with_passphrase.py' 'correct horse' -p -o '\(directory)/theirs.age' '\(directory)/theirs'")
        #expect(made.status == 0, "\(made.output)")
        let theirs = try Data(contentsOf: URL(fileURLWithPath: directory + "/theirs.age"))
        #expect(try decrypt(theirs, with: [.passphrase("correct horse")]) == plaintext)
        #expect(throws: AgeDecryptor.WrongKey.self) { try decrypt(theirs, with: [.passphrase("wrong horse")]) }
    }

    @Test func theWrongKeyOrDamageIsRefusedBeforeAnyPlaintext() throws {
        let (identity, recipient) = AgeIdentity.generate()
        let (otherIdentity, _) = AgeIdentity.generate()
        try (identity + "\n").write(toFile: directory + "/mine.txt", atomically: false, encoding: .utf8)
        try ("# other\n" + otherIdentity + "\n").write(toFile: directory + "/other.txt", atomically: false, encoding: .utf8)
        let plaintext = payload(150_000)
        let ciphertext = try encrypt(plaintext, to: [try AgeRecipient.parse(recipient, origin: "test")])
        #expect(try decrypt(ciphertext, with: try AgeIdentity.parseFile(directory + "/mine.txt")) == plaintext)
        #expect(throws: AgeDecryptor.WrongKey.self) { try decrypt(ciphertext, with: try AgeIdentity.parseFile(directory + "/other.txt")) }
        var flipped = ciphertext
        flipped[flipped.count - 100] ^= 1
        #expect(throws: AgeHeader.Malformed.self) { try decrypt(flipped, with: try AgeIdentity.parseFile(directory + "/mine.txt")) }
        // Cut at a chunk boundary: the remaining last chunk lacks the last-chunk flag.
        let headerAndTwoChunks = ciphertext.count - (150_000 - 2 * 65_536) - 16
        #expect(throws: AgeHeader.Malformed.self) {
            try decrypt(ciphertext.prefix(headerAndTwoChunks), with: try AgeIdentity.parseFile(directory + "/mine.txt"))
        }
        #expect(throws: AgeHeader.Malformed.self) { try decrypt(Data("not age\n".utf8), with: [.passphrase("x")]) }
    }

    @Test func keysRoundTripThroughBech32() throws {
        let (identity, recipient) = AgeIdentity.generate()
        #expect(identity.hasPrefix("AGE-SECRET-KEY-1"))
        #expect(recipient.hasPrefix("age1"))
        // Another last character (a "q" already there would leave the key as it was: one run in 32 did).
        let altered = String(recipient.dropLast()) + (recipient.hasSuffix("q") ? "p" : "q")
        #expect(throws: (any Error).self) { try AgeRecipient.parse(altered, origin: "test") }
        if try ageAvailable() {
            try (identity + "\n").write(toFile: directory + "/id.txt", atomically: false, encoding: .utf8)
            let derived = try shell("age-keygen -y '\(directory)/id.txt'").output.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(derived == recipient, "age derives the same recipient from our identity")
        }
    }
}
