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
