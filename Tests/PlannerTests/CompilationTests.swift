import Foundation
import Pipeline
import Testing
@testable import Planner

@Suite struct CompilationTests {
    func compile(pipeline name: String) throws -> CompiledPipeline {
        let config = try ConfigLoader.load(.file(Fixtures.pipelines.appendingPathComponent(name).path))
        return try Compiler.compile(config, builtins: Fixtures.builtins, environment: [:])
    }

    func edges(_ pipeline: CompiledPipeline) -> Set<String> {
        Set(pipeline.graph.edges.map { "\($0.from) -> \($0.to)" })
    }

    @Test func everyExamplePipelineValidates() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Fixtures.pipelines.path).filter { $0.hasSuffix(".yaml") }
        #expect(files.count >= 3)
        for file in files {
            let pipeline = try compile(pipeline: file)
            #expect(!pipeline.graph.nodes.isEmpty)
            _ = try pipeline.graph.topologicalOrder()
        }
    }

    @Test func demoGraph() throws {
        let pipeline = try compile(pipeline: "demo.yaml")
        #expect(pipeline.graph.nodes.map(\.id) == [
            "dump:notes/documents", "dump:notes/app-db", "filter:notes/hashes", "collect:notes",
            "archive:notes/tar.zst", "upload:local-archives/notes",
        ])
        #expect(edges(pipeline) == [
            "dump:notes/documents -> filter:notes/hashes", "dump:notes/app-db -> filter:notes/hashes",
            "filter:notes/hashes -> collect:notes", "collect:notes -> archive:notes/tar.zst",
            "archive:notes/tar.zst -> upload:local-archives/notes",
        ])
        #expect(pipeline.graph.node("upload:local-archives/notes")?.parameters.string("url")
                == "file:///tmp/polyarchiv-demo/backups/notes/host1-2026-03-04.tar.zst")
    }

    @Test func websiteGraph() throws {
        let pipeline = try compile(pipeline: "website.yaml")
        let ids = Set(pipeline.graph.nodes.map(\.id))
        #expect(ids == [
            "dump:www.example.com/uploads", "dump:www.example.com/database", "dump:www.example.com/forum",
            "filter:www.example.com/hashes", "collect:www.example.com", "upload:git-mirror/www.example.com",
            "archive:www.example.com/tar.zst", "filter:s3-archives/www.example.com/encrypt", "upload:s3-archives/www.example.com",
        ])
        #expect(edges(pipeline).isSuperset(of: [
            "collect:www.example.com -> upload:git-mirror/www.example.com",
            "collect:www.example.com -> archive:www.example.com/tar.zst",
            "archive:www.example.com/tar.zst -> filter:s3-archives/www.example.com/encrypt",
            "filter:s3-archives/www.example.com/encrypt -> upload:s3-archives/www.example.com",
        ]))
        let database = try #require(pipeline.graph.node("dump:www.example.com/database"))
        #expect(database.resourceKeys == ["postgresql:local:5432"])
        #expect(pipeline.graph.node("upload:git-mirror/www.example.com")?.resourceKeys == ["host:backup.example.org"])
        // Two secrets cannot be read here; planning goes on and says so.
        #expect(pipeline.warnings.count == 3)
    }

    @Test func multiSiteKeepsTheIntranetLocal() throws {
        let pipeline = try compile(pipeline: "multi-site.yaml")
        let pairs = Set(pipeline.associations.map { "\($0.backupPoint)/\($0.collectPoint)" })
        #expect(pairs == ["offsite/blog", "offsite/shop", "restic-s3/blog", "restic-s3/shop"])
        #expect(!pipeline.graph.nodes.contains { $0.id.contains("/intranet") && $0.kind == .upload })
        #expect(pipeline.graph.node("prune:offsite/blog")?.parameters["keep"]
                == .map([("daily", .string("7")), ("weekly", .string("4")), ("monthly", .string("12")), ("yearly", .string("2"))]))
        // Global hooks wrap the whole run: before every entry, after every exit.
        let before = pipeline.graph.outputs(of: "notify:global/http/before").map(\.to)
        #expect(Set(before) == ["dump:blog/content", "dump:blog/db", "dump:shop/db", "dump:shop/media",
                                "dump:intranet/wiki", "dump:intranet/directory"])
        let after = Set(pipeline.graph.inputs(of: "notify:global/http/after").map(\.from))
        // restic forgets in its upload stage; archives are pruned by a stage of their own.
        #expect(after == ["prune:offsite/blog", "prune:offsite/shop", "upload:restic-s3/blog", "upload:restic-s3/shop",
                          "collect:intranet"])
        #expect(pipeline.graph.node("upload:restic-s3/blog")?.parameters["keep"] != nil)
        #expect(pipeline.graph.node("notify:global/http/after")?.runsAfterFailure == true)
    }

    @Test func backupPointsWithTheSameArchiveShareOneArchiveNode() throws {
        let pipeline = try Fixtures.compile(Fixtures.minimal + """

            backup_points:
              one: {engine: archive, url: "file:///b1/{name}.tar.zst"}
              two: {engine: archive, url: "sftp://h/b2/{name}.tar.zst", filters: [{engine: encrypt, recipients: [age1x]}]}
              three: {engine: archive, url: "file:///b3/{name}.tar.zst", filters: [{engine: encrypt, recipients: [age1x]}]}
            """)
        #expect(pipeline.graph.nodes.filter { $0.kind == .archive }.map(\.id) == ["archive:www/tar.zst"])
        // Identical filter settings on the same input: one encryption, two uploads.
        #expect(pipeline.graph.nodes.filter { $0.kind == .filter }.map(\.id) == ["filter:two/www/encrypt"])
        #expect(pipeline.graph.inputs(of: "upload:three/www").map(\.from) == ["filter:two/www/encrypt"])
    }

    @Test func metadataBesideDatedDirectoriesIsAWarning() throws {
        let pipeline = try Fixtures.compile(Fixtures.minimal + """

            backup_points:
              dated: {engine: archive, url: "file:///b/{Y}/{m}/{name}.tar.gz"}
              fixed: {engine: archive, url: "file:///b/{name}/{Y}-{m}-{d}.tar.gz"}
              pinned: {engine: archive, url: "file:///b/{Y}/{name}.tar.gz", metadata_url: "file:///b/{name}.json"}
            """)
        #expect(pipeline.warnings.count == 1)
        #expect(pipeline.warnings.first?.message.contains("backup point `dated`") == true)
        #expect(pipeline.graph.node("upload:fixed/www")?.parameters.string("metadata_url") == "file:///b/www/fixed-www.polyarchiv.json")
        #expect(pipeline.graph.node("upload:pinned/www")?.parameters.string("metadata_url") == "file:///b/www.json")
    }

    @Test func cyclesAreDetected() throws {
        var graph = StageGraph()
        for id in ["a", "b", "c"] {
            try graph.add(StageNode(id: id, kind: .filter, engine: "x", group: .global, summary: id))
        }
        try graph.connect("a", "b", label: "")
        try graph.connect("b", "c", label: "")
        try graph.connect("c", "b", label: "")
        #expect(throws: StageGraph.GraphError.cycle(["b", "c", "b"])) { try graph.topologicalOrder() }
        #expect(throws: StageGraph.GraphError.self) { try graph.connect("a", "missing", label: "") }
    }

    @Test func twoFilesMergeAndADuplicateNameNamesBothPlaces() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pa-merge-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try Fixtures.minimal.write(to: directory.appendingPathComponent("a.yaml"), atomically: true, encoding: .utf8)
        try "backup_points:\n  out: {engine: archive, url: \"file:///b/{name}.tar.gz\"}\n"
            .write(to: directory.appendingPathComponent("b.yml"), atomically: true, encoding: .utf8)
        try "ignored".write(to: directory.appendingPathComponent("notes.txt"), atomically: true, encoding: .utf8)
        let merged = try ConfigLoader.load(.directory(directory.path))
        #expect(merged.collectPoints.map(\.name) == ["www"])
        #expect(merged.backupPoints.map(\.name) == ["out"])
        try Fixtures.minimal.write(to: directory.appendingPathComponent("c.yaml"), atomically: true, encoding: .utf8)
        do {
            _ = try ConfigLoader.load(.directory(directory.path))
            Issue.record("a duplicate collect point must fail")
        } catch let error as ConfigError {
            let message = try #require(error.diagnostics.first)
            #expect(message.location?.file.hasSuffix("c.yaml") == true)
            #expect(message.message.contains("a.yaml:2:3"))
        }
    }
}
