import Foundation
import Testing
import TestSupport

/// Signed backups: a backup server that holds only backups encrypted to a public recipient can make a forged
/// archive encrypted to the same recipient and rewrite the metadata document to point at it. Without a
/// signature the forgery restores; with `signing_key` (and `signed_by` elsewhere) it is refused.
@Suite struct SignedBackupTests {
    @Test func aForgedEncryptedBackupIsRefusedWhenBackupsAreSigned() throws {
        let sandbox = try Sandbox()
        let key = sandbox.path("signing.key")
        let made = try CLI.run(["keygen", "--signing", "-o", key])
        #expect(made.status == 0, "\(made.stderr)")
        #expect(try Sandbox.shell("stat -c %a '\(key)'").output == "600\n")
        let publicKey = try #require(made.stderr.split(separator: "\n").first { $0.hasPrefix("Public key: ") }?.dropFirst("Public key: ".count))
        #expect(publicKey.hasPrefix("polyarchiv-ed25519:"))
        let (identity, recipient) = try CLI.ageKeys()
        try sandbox.write("identity.txt", identity)
        try sandbox.write("data/a.txt", "genuine\n")
        func configure(_ signing: String) throws {
            try sandbox.configure("""
                collect_points:
                  site: {engine: files, path: $ROOT/collect, sources: {www: {engine: files, path: $ROOT/data}}}
                backup_points:
                  b:
                    engine: archive
                    url: "file://$ROOT/b/{name}.tar.gz"
                    filters: [{engine: encrypt, recipients: ["\(recipient)"]}]
                \(signing)
                """)
        }
        try configure("    signing_key: \(key)")
        #expect(try sandbox.apply().status == 0)
        func restore(_ target: String) throws -> CLI.Result {
            try CLI.run(["restore", "-c", sandbox.config, "--identity", sandbox.path("identity.txt"), "--target", sandbox.path(target)])
        }
        let genuine = try restore("genuine")
        #expect(genuine.status == 0, "\(genuine.stderr)")
        #expect(try String(contentsOfFile: sandbox.path("genuine/site/www/a.txt"), encoding: .utf8) == "genuine\n")

        // The server's forgery: another archive, encrypted to the same recipient, and the entry rewritten to match it.
        let archive = sandbox.path("b/site.tar.gz.age")
        let document = sandbox.path("b/" + Sandbox.document("b", "site"))
        let forged = try Sandbox.shell("""
            set -e; mkdir -p '\(sandbox.path("forgery/www"))'; printf 'forged\\n' > '\(sandbox.path("forgery/www/a.txt"))'
            tar -C '\(sandbox.path("forgery"))' -czf '\(sandbox.path("forged.tar.gz"))' www
            age -r '\(recipient)' -o '\(archive).new' '\(sandbox.path("forged.tar.gz"))' && mv '\(archive).new' '\(archive)'
            python3 -c "import json,sys,hashlib,os; p,a=sys.argv[1],sys.argv[2]; d=json.load(open(p)); b=d['backups'][0]
            b['digest']=hashlib.sha256(open(a,'rb').read()).hexdigest(); b['size']=os.path.getsize(a); b.pop('manifest',None)
            b.pop('manifestDigest',None); b.pop('manifestSize',None); json.dump(d, open(p,'w'))" '\(document)' '\(archive)'
            """)
        #expect(forged.status == 0, "\(forged.output)")
        // Unsigned, the forgery would pass: the archive matches its (rewritten) entry.
        try configure("")
        let fooled = try restore("fooled")
        #expect(fooled.status == 0, "\(fooled.stderr)")
        #expect(try String(contentsOfFile: sandbox.path("fooled/site/www/a.txt"), encoding: .utf8) == "forged\n")
        // Signed: refused on this host (its own key) and on another machine that trusts only the public key.
        for signing in ["    signing_key: \(key)", "    signed_by: [\"\(publicKey)\"]"] {
            try configure(signing)
            let refused = try restore("refused")
            #expect(refused.status == 2 && refused.stderr.contains("its signature does not verify against signed_by"), "\(refused.stderr)")
            #expect(!FileManager.default.fileExists(atPath: sandbox.path("refused/site/www/a.txt")))
            let listed = try CLI.run(["list", "-c", sandbox.config])
            #expect(listed.stdout.contains("REFUSED: its signature does not verify"), "\(listed.stdout)")
            let ls = try CLI.run(["ls", "-c", sandbox.config, "--identity", sandbox.path("identity.txt")])
            #expect(ls.status != 0 && ls.stderr.contains("is refused"), "\(ls.stdout)\(ls.stderr)")
        }
        let verify = try sandbox.run("verify")
        #expect(verify.status == 2 && verify.stdout.contains("is refused"), "\(verify.stdout)")
        // A malformed public key is a configuration error at its line.
        try configure("    signed_by: [\"polyarchiv-ed25519:nonsense\"]")
        let bad = try CLI.run(["validate", "-c", sandbox.config])
        #expect(bad.status == 1 && bad.stderr.contains("signed_by: `polyarchiv-ed25519:nonsense` is not a polyarchiv-ed25519: public key"),
                "\(bad.stderr)")
    }
}
