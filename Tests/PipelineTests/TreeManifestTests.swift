import Foundation
import Testing
@testable import Pipeline

@Suite struct TreeManifestTests {
    @Test func everyFieldSurvivesEncodingAndDecoding() throws {
        let digest = Digest.of("content")
        let tree = Tree(entries: [
            Tree.Entry(kind: .directory, path: "", mode: 0o755, mtime: -1_000_000_007),
            Tree.Entry(kind: .file, path: "dir/é ünïcødé 🗄.txt", mode: 0o4755, size: 7, mtime: 1_700_000_000_123_456_789, digest: digest,
                       owner: Tree.Owner(uid: 1000, gid: 4_000_000_000, user: "jörg", group: "staff \"x\"")),
            Tree.Entry(kind: .file, path: "dir/link", mode: 0o644, size: 7, mtime: 5, digest: digest, hardlink: "dir/é ünïcødé 🗄.txt"),
            Tree.Entry(kind: .file, path: "ctl\u{01}\t\r\\name", mode: 0o600, size: 0, mtime: 0, digest: Digest.of("")),
            Tree.Entry(kind: .symlink, path: "s", mode: 0o777, mtime: 3, target: "../\"up\"\n"),
        ])
        let decoded = try Tree.decode(tree.encoded())
        #expect(decoded == tree)
        #expect(decoded.entries.map(\.owner) == tree.entries.map(\.owner))
        #expect(decoded.entries.map(\.hardlink) == tree.entries.map(\.hardlink))
        #expect(decoded.entries.map(\.target) == tree.entries.map(\.target))
        #expect(decoded.entries.map(\.mode) == tree.entries.map(\.mode))
        #expect(decoded.encoded() == tree.encoded())
    }

    /// Names of any bytes and extended attributes of any bytes come back as they were; a manifest written before
    /// attributes existed still reads.
    @Test func byteNamesAndExtendedAttributesSurviveEncodingAndDecoding() throws {
        let latin1 = FileName.decode([0x63, 0x61, 0x66, 0xe9])  // "café" in Latin-1
        #expect(FileName.bytes(latin1) == [0x63, 0x61, 0x66, 0xe9])
        let pua = "\u{10FFAB}"  // a real character of the range FileName borrows: its bytes still round-trip
        #expect(FileName.bytes(FileName.decode(Array(pua.utf8))) == Array(pua.utf8))
        var file = Tree.Entry(kind: .file, path: "dir\u{10FFFF}/" + latin1, mode: 0o644, size: 1, mtime: 1, digest: Digest.of("x"))
        file.xattrs = [Tree.ExtendedAttribute(name: "security.capability", value: [1, 0, 0, 2, 0, 0x20, 0, 0]),
                       Tree.ExtendedAttribute(name: "user.comment", value: Array("a \"quoted\" value\n".utf8))]
        let tree = Tree(entries: [Tree.Entry(kind: .directory, path: "", mode: 0o755, mtime: 0), file])
        let decoded = try Tree.decode(tree.encoded())
        #expect(decoded == tree)
        #expect(decoded.entries.last?.xattrs == file.xattrs)
        #expect(FileName.bytes(decoded.entries.last!.path) == Array("dir".utf8) + [0xff, UInt8(ascii: "/"), 0x63, 0x61, 0x66, 0xe9])
        let old = try Tree.decode(Data("polyarchiv-tree 1\nF 644 1 1 - \"a\" u=0 g=0\n".utf8))
        #expect(old.entries.first?.xattrs == [])
    }

    @Test(arguments: [
        ("polyarchiv-tree 2\n", "not a polyarchiv tree manifest"),
        ("polyarchiv-tree 1\nX 644 1 1 - \"a\"\n", "entry kind"),
        ("polyarchiv-tree 1\nF 9 1 1 - \"a\"\n", "mode"),
        ("polyarchiv-tree 1\nF 644 x 1 - \"a\"\n", "size"),
        ("polyarchiv-tree 1\nF 644 1 1 abc \"a\"\n", "digest"),
        ("polyarchiv-tree 1\nF 644 1 1 - \"a\n", "path"),
        ("polyarchiv-tree 1\nF 644 1 1 - \"a\" z=1\n", "unknown tree manifest field z"),
        ("polyarchiv-tree 1\nF 644 1 1 - \"a\" u=-1\n", "owner"),
    ])
    func aMalformedManifestIsRefusedWithItsLine(_ text: String, _ expected: String) {
        #expect {
            _ = try Tree.decode(Data(text.utf8))
        } throws: { error in
            "\(error)".contains(expected)
        }
    }
}
