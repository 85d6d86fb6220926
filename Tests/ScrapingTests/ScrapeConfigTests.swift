import Scraping
import Testing
import TimeSeries

@Suite struct ScrapeConfigTests {
    @Test func jobsTargetsAndDefaults() throws {
        let yaml = """
            global:
              scrape_interval: 30s
            scrape_configs:
              - job_name: node
                static_configs:
                  - targets: ["127.0.0.1:9100", "db.internal:9100"]
                    labels:
                      env: prod
              - job_name: redis
                scrape_interval: 5s
                scrape_timeout: 2s
                metrics_path: /scrape
                honor_labels: true
                static_configs:
                  - targets: ["[::1]:9121"]
            """
        let targets = try ScrapeConfigFile.targets(from: yaml, defaultInterval: 15_000)
        #expect(targets.count == 3)
        #expect(targets[0].url == "http://127.0.0.1:9100/metrics")
        #expect(targets[0].labels == Labels(["job": "node", "instance": "127.0.0.1:9100", "env": "prod"]))
        #expect(targets[0].interval == 30_000 && targets[0].timeout == 10_000)
        #expect(targets[1].instance == "db.internal:9100")
        #expect(targets[2].url == "http://[::1]:9121/scrape")
        #expect(targets[2].interval == 5_000 && targets[2].timeout == 2_000 && targets[2].honorLabels)
        #expect(try ScrapeConfigFile.targets(from: "scrape_configs: []", defaultInterval: 15_000).isEmpty)
    }

    @Test(arguments: [
        ("scrape_configs:\n  - job_name: a\n    static_configs:\n      - targets: [\"h:1\"]\n        lables: {}\n", 5, "field lables not found"),
        ("scrape_configs:\n  - job_name: a\n    scheme: https\n", 2, "only"),
        ("scrape_configs:\n  - job_name: a\n    scrape_interval: 5s\n    scrape_timeout: 10s\n", 2, "not greater than scrape_interval"),
        ("scrape_configs:\n  - job_name: a\n    scrape_interval: 5 seconds\n", 3, "not a duration"),
        ("scrape_configs:\n  - job_name: a\n  - job_name: a\n", 3, "appears twice"),
        ("scrape_configs:\n  - job_name: a\n    static_configs:\n      - targets: [\"nohost\"]\n", 4, "host:port"),
        ("scrape_configs:\n  - static_configs: []\n", 2, "job_name is required"),
        ("rule_files: []\n", 1, "field rule_files not found"),
    ])
    func mistakesNameTheirLine(_ yaml: String, _ line: Int, _ problem: String) {
        #expect {
            _ = try ScrapeConfigFile.targets(from: yaml, defaultInterval: 15_000)
        } throws: { error in
            guard let error = error as? ScrapeConfigError else { return false }
            return error.line == line && error.problem.contains(problem)
        }
    }
}
