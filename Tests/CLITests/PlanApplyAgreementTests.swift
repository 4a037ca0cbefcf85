import Foundation
import Testing
import TestSupport

/// `plan` and `apply` share one decision procedure: on each scenario, what plan promises for every stage is
/// what apply then does (`cached unless DUMP changes` is cached when the dump gave the same data, run when
/// not, blocked when it failed).
@Suite(.serialized) struct PlanApplyAgreementTests {
    func planned(_ sandbox: Sandbox) throws -> [String: (state: String, reason: String?, inputs: [String])] {
        let plan = try sandbox.run("plan", ["--format", "json"])
        #expect(plan.status == 0, "\(plan.stderr)")
        let document = try #require(try JSONSerialization.jsonObject(with: Data(plan.stdout.utf8)) as? [String: Any])
        let stages = try #require(document["stages"] as? [[String: Any]])
        return Dictionary(uniqueKeysWithValues: stages.compactMap { stage in
            (stage["id"] as? String).map { ($0, (stage["state"] as? String ?? "", stage["reason"] as? String, stage["inputs"] as? [String] ?? [])) }
        })
    }

    func applied(_ sandbox: Sandbox) throws -> [String: String] {
        let run = try sandbox.apply(["--json"])
        var outcomes: [String: String] = [:]
        for line in run.stdout.split(separator: "\n") {
            guard let event = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  ["finished", "failed"].contains(event["event"] as? String ?? ""),
                  let stage = event["stage"] as? String, let state = event["state"] as? String else { continue }
            outcomes[stage] = state
        }
        return outcomes
    }

    /// Checks plan's promise against apply's outcome for every stage; `changedDumps` gave new data this time.
    func agree(_ scenario: String, _ sandbox: Sandbox, changedDumps: Set<String> = [], failedDumps: Set<String> = []) throws {
        let plan = try planned(sandbox)
        let outcomes = try applied(sandbox)
        #expect(!plan.isEmpty && Set(plan.keys) == Set(outcomes.keys), "\(scenario): the same stages: \(plan.keys.sorted()) \(outcomes.keys.sorted())")
        func upstream(_ stage: String) -> Set<String> {
            var seen = Set<String>()
            var work = plan[stage]?.inputs ?? []
            while let next = work.popLast() {
                if seen.insert(next).inserted { work += plan[next]?.inputs ?? [] }
            }
            return seen
        }
        for (stage, promise) in plan {
            let outcome = outcomes[stage] ?? "missing"
            let above = upstream(stage)
            let allowed: Set<String>
            switch promise.state {
            case "run": allowed = ["succeeded", "failed"]
            case "skip": allowed = ["skipped"]
            case "blocked": allowed = ["blocked"]
            case "cached":
                if let reason = promise.reason, reason.hasPrefix("unless ") {
                    // Known only once the dumps above it ran: blocked by a failed one, run for changed data.
                    allowed = !above.isDisjoint(with: failedDumps) ? ["blocked"] : !above.isDisjoint(with: changedDumps) ? ["succeeded"] : ["cached"]
                } else {
                    allowed = ["cached"]
                }
            default: allowed = []
            }
            #expect(allowed.contains(outcome), "\(scenario): \(stage): plan said \(promise.state) \(promise.reason ?? ""), apply did \(outcome)")
        }
    }

    @Test func planAndApplyAgreeStageByStage() throws {
        let sandbox = try Sandbox()
        try sandbox.write("data/index.html", "one\n")
        try sandbox.write("switch", "ok\n")
        let config = """
            collect_points:
              site:
                engine: files
                path: $ROOT/collect
                frequency: FREQUENCY
                sources:
                  www: {engine: files, path: $ROOT/data}
                  probe: {engine: command, command: "grep -q ok $ROOT/switch && echo probe"}
            backup_points:
              local: {engine: archive, url: "file://$ROOT/backups/{name}.tar.gz"}
            """
        try sandbox.configure(config.replacingOccurrences(of: "FREQUENCY", with: "always"))
        try agree("fresh", sandbox)
        try agree("unchanged", sandbox)
        try sandbox.write("data/index.html", "two\n")
        try agree("changed source", sandbox, changedDumps: ["dump:site/www"])
        try FileManager.default.removeItem(atPath: sandbox.path("backups/site.tar.gz"))
        try agree("deleted remote backup", sandbox)
        try sandbox.configure(config.replacingOccurrences(of: "FREQUENCY", with: "daily"))
        try agree("changed frequency", sandbox)
        try sandbox.configure(config.replacingOccurrences(of: "FREQUENCY", with: "always"))
        try sandbox.write("switch", "off\n")
        try agree("failed upstream", sandbox, failedDumps: ["dump:site/probe"])
    }
}
