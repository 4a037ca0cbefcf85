import Foundation
import Testing
@testable import Planner

@Suite struct VariableTests {
    @Test func templatesExpandAndEscapeBraces() throws {
        let template = try Template(parsing: "{{literal}} /srv/{name}/{Y}-{m}")
        #expect(try template.expand(VariableScope(["name": "www", "Y": "2026", "m": "03"])) == "{literal} /srv/www/2026-03")
    }

    @Test func missingVariablesAreNamed() throws {
        let template = try Template(parsing: "{a}/{b}/{c}")
        #expect(throws: Template.MissingVariables.self) { try template.expand(VariableScope(["a": "1"])) }
        do {
            _ = try template.expand(VariableScope(["a": "1"]))
        } catch let missing as Template.MissingVariables {
            #expect(missing.names == ["b", "c"])
        }
    }

    @Test func malformedTemplatesAreRejected() {
        #expect(throws: Template.ParseError.self) { try Template(parsing: "{unclosed") }
        #expect(throws: Template.ParseError.self) { try Template(parsing: "stray } brace") }
        #expect(throws: Template.ParseError.self) { try Template(parsing: "{not a name}") }
    }

    @Test func builtinsFollowStrftime() {
        let values = Fixtures.builtins.values
        setenv("TZ", "UTC", 1)
        tzset()
        #expect(values["hostname"] == "host1")
        #expect(values["fqdn"] == "host1.example.org")
        #expect(values["username"] == "backup")
        #expect(BuiltinVariables.format("Y", Fixtures.builtins.date) == "2026")
        #expect(BuiltinVariables.format("m", Fixtures.builtins.date) == "03")
        #expect(BuiltinVariables.format("j", Fixtures.builtins.date) == "063")
        #expect(values.keys.contains("f") && values.keys.contains("U") && values.keys.contains("a"))
    }

    @Test func scopesLayerGlobalBackupPointCollectPointThenVariablesFor() throws {
        let pipeline = try Fixtures.compile("""
            variables: {where: global, root: /srv}
            collect_points:
              www:
                engine: files
                path: "{root}/cp/{name}"
                variables: {where: cp, site: "{root}/www"}
                sources:
                  site: {engine: files, path: "{site}/{where}"}
              blog:
                engine: files
                path: "{root}/cp/{name}"
                sources:
                  site: {engine: files, path: "{root}/{where}"}
            backup_points:
              out:
                engine: archive
                url: "file:///b/{backup_point}/{name}-{where}-{hostname}.tar.gz"
                variables: {where: bp}
                variables_for:
                  blog: {where: blog-only}
            """)
        #expect(pipeline.node("collect:www")?.parameters.string("path") == "/srv/cp/www")
        #expect(pipeline.node("dump:www/site")?.parameters.string("path") == "/srv/www/cp")
        #expect(pipeline.node("dump:blog/site")?.parameters.string("path") == "/srv/global")
        // The collect point's variables win over the backup point's; variables_for wins over all.
        #expect(pipeline.node("upload:out/www")?.parameters.string("url") == "file:///b/out/www-cp-host1.tar.gz")
        #expect(pipeline.node("upload:out/blog")?.parameters.string("url") == "file:///b/out/blog-blog-only-host1.tar.gz")
    }

    @Test func undefinedVariableNamesItAndItsPlace() {
        let found = Fixtures.diagnostics(Fixtures.minimal.replacingOccurrences(of: "/srv/www", with: "\"/srv/{webroot}\""))
        #expect(found.count == 1)
        #expect(found.first?.message.contains("`{webroot}`") == true)
        #expect(found.first?.location?.line == 6)
    }
}

/// Where YAML anchors live, braces in commands, and `~/` paths.
@Suite struct ConfigConveniencesTests {
    @Test func xKeysHoldAnchorsAndAreNotRead() throws {
        let pipeline = try Fixtures.compile("""
            x-site: &site
              engine: files
              sources: {www: {engine: command, command: "awk '{{print $1}}' /etc/hosts"}}
            collect_points:
              www:
                <<: *site
                path: /srv/collect/www
            """)
        #expect(pipeline.node("dump:www/www")?.parameters.string("command") == "awk '{print $1}' /etc/hosts")
        #expect(pipeline.node("collect:www")?.parameters.string("path") == "/srv/collect/www")
    }

    @Test func tildeIsTheHomeOfTheUserRunningPolyarchiv() throws {
        let pipeline = try Fixtures.compile("""
            collect_points:
              www:
                engine: files
                path: ~/collect
                sources: {www: {engine: files, path: ~/data}}
            """)
        let home = String(cString: getpwuid(geteuid())!.pointee.pw_dir)
        #expect(pipeline.node("collect:www")?.parameters.string("path") == home + "/collect")
        #expect(pipeline.node("dump:www/www")?.parameters.string("path") == home + "/data")
        let relative = Fixtures.diagnostics("""
            collect_points:
              www: {engine: files, path: collect, sources: {www: {engine: files, path: /data}}}
            """)
        #expect(relative.contains { $0.message.contains("must be an absolute path (or start with ~/)") }, "\(relative)")
    }
}

/// Variables that would silently mean something else, or nothing.
@Suite struct VariableMistakesTests {
    @Test func builtInNamesCannotBeRedefined() {
        let diagnostics = Fixtures.diagnostics("""
            variables: {y: "mine", name: "other"}
            collect_points:
              www: {engine: files, path: /c, sources: {a: {engine: files, path: /a}}}
            """)
        #expect(diagnostics.contains { $0.message.contains("`y` is a built-in variable") && $0.location?.line == 1 }, "\(diagnostics)")
        #expect(diagnostics.contains { $0.message.contains("`name` is a built-in variable") }, "\(diagnostics)")
    }

    @Test func aVariableUsedAboveItsDefinitionSaysWhere() {
        let diagnostics = Fixtures.diagnostics("""
            variables:
              site: "/srv/{root}"
              root: "www"
            collect_points:
              www: {engine: files, path: /c, sources: {a: {engine: files, path: "{site}"}}}
            """)
        #expect(diagnostics.contains { $0.message.contains("defined below it (line 3)") && $0.location?.line == 2 }, "\(diagnostics)")
    }

    @Test func aMissingPasswordFileIsNamedAsWritten() throws {
        let pipeline = try Fixtures.compile("""
            collect_points:
              www: {engine: files, path: /c, sources: {a: {engine: files, path: /a}}}
            backup_points:
              dav: {engine: archive, url: "https://h/{name}.tar.gz", username: u, password_file: /nonexistent/pw}
            """)
        #expect(pipeline.warnings.contains { $0.message.hasPrefix("`password_file`: ") }, "\(pipeline.warnings)")
    }
}
