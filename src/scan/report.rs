//! A scan's report as the user asked for it: text for a terminal (grouped
//! by severity, most severe first), JSON (`{"target","findings","requests"}`)
//! or SARIF 2.1.0 for code scanning (GitHub's among them).

use serde::Serialize;
use serde_json::{Value, json};

use super::catalog::{CHECKS, Finding, Severity};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
    Sarif,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub target: String,
    pub findings: Vec<Finding>,
    /// Requests the target received from the scan.
    pub requests: u32,
    /// Checks that could not run, and why (text only).
    #[serde(skip)]
    pub skipped: Vec<String>,
}

impl Report {
    /// 1 when a finding is at or above `fail_on`, else 0.
    pub fn exit_code(&self, fail_on: Severity) -> u8 {
        u8::from(self.findings.iter().any(|finding| finding.severity >= fail_on))
    }

    pub fn render(&self, format: Format) -> String {
        match format {
            Format::Text => self.text(),
            Format::Json => serde_json::to_string_pretty(self).unwrap_or_default(),
            Format::Sarif => serde_json::to_string_pretty(&self.sarif()).unwrap_or_default(),
        }
    }

    fn text(&self) -> String {
        let mut out = format!(
            "rampart scan of {}: {} finding{} in {} requests\n",
            self.target,
            self.findings.len(),
            if self.findings.len() == 1 { "" } else { "s" },
            self.requests
        );
        for severity in [Severity::High, Severity::Medium, Severity::Low, Severity::Info] {
            let found: Vec<_> = self.findings.iter().filter(|f| f.severity == severity).collect();
            if found.is_empty() {
                continue;
            }
            out.push_str(&format!(
                "\n{} ({})\n",
                severity.as_str().to_uppercase(),
                found.len()
            ));
            for finding in found {
                out.push_str(&format!(
                    "  {}: {}\n    evidence: {}\n    rule: {}\n    fix: {}\n",
                    finding.id, finding.title, finding.evidence, finding.rule, finding.fix
                ));
            }
        }
        if self.findings.is_empty() {
            out.push_str("\nNo findings.\n");
        }
        if !self.skipped.is_empty() {
            out.push_str("\nNot checked:\n");
            for reason in &self.skipped {
                out.push_str(&format!("  {reason}\n"));
            }
        }
        out
    }

    /// SARIF 2.1.0: every check a rule, every finding a result located at
    /// the target's URL.
    fn sarif(&self) -> Value {
        let rules: Vec<Value> = CHECKS
            .iter()
            .map(|check| {
                json!({
                    "id": check.id,
                    "name": check.id,
                    "shortDescription": {"text": check.title},
                    "fullDescription": {"text": format!("{} ({})", check.title, check.rule)},
                    "help": {"text": check.fix},
                    "properties": {"tags": ["security"]}
                })
            })
            .collect();
        let results: Vec<Value> = self
            .findings
            .iter()
            .map(|finding| {
                let level = match finding.severity {
                    Severity::High => "error",
                    Severity::Medium => "warning",
                    Severity::Low | Severity::Info => "note",
                };
                json!({
                    "ruleId": finding.id,
                    "ruleIndex": CHECKS.iter().position(|check| check.id == finding.id),
                    "level": level,
                    "message": {"text": format!("{}: {}", finding.title, finding.evidence)},
                    "locations": [{"physicalLocation": {"artifactLocation": {"uri": self.target}}}],
                    "properties": {"severity": finding.severity.as_str(), "rule": finding.rule, "fix": finding.fix}
                })
            })
            .collect();
        json!({
            "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
            "version": "2.1.0",
            "runs": [{
                "tool": {"driver": {
                    "name": "rampart scan",
                    "version": env!("CARGO_PKG_VERSION"),
                    "rules": rules
                }},
                "results": results
            }]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> Report {
        Report {
            target: "http://127.0.0.1:8000/".to_owned(),
            findings: vec![
                Finding::new("docs-exposed", Severity::Info, "GET /docs -> 200"),
                Finding::new("no-rate-limit", Severity::Medium, "100 x GET /"),
            ],
            requests: 120,
            skipped: vec!["jwt: no token".to_owned()],
        }
    }

    #[test]
    fn exit_codes_follow_fail_on() {
        let report = report();
        assert_eq!(report.exit_code(Severity::Medium), 1);
        assert_eq!(report.exit_code(Severity::High), 0);
        assert_eq!(report.exit_code(Severity::Info), 1);
    }

    #[test]
    fn each_format_says_the_findings() {
        let report = report();
        let text = report.render(Format::Text);
        assert!(
            text.find("MEDIUM (1)").unwrap() < text.find("INFO (1)").unwrap(),
            "{text}"
        );
        assert!(text.contains("Not checked:\n  jwt: no token"));
        let json: Value = serde_json::from_str(&report.render(Format::Json)).unwrap();
        assert_eq!(json["requests"], 120);
        assert_eq!(json["findings"][1]["id"], "no-rate-limit");
        assert_eq!(json.as_object().unwrap().len(), 3);
        let sarif: Value = serde_json::from_str(&report.render(Format::Sarif)).unwrap();
        assert_eq!(sarif["version"], "2.1.0");
        assert_eq!(sarif["runs"][0]["results"][1]["level"], "warning");
        assert_eq!(sarif["runs"][0]["results"][0]["level"], "note");
        let index = sarif["runs"][0]["results"][1]["ruleIndex"].as_u64().unwrap();
        assert_eq!(
            sarif["runs"][0]["tool"]["driver"]["rules"][index as usize]["id"],
            "no-rate-limit"
        );
    }
}
