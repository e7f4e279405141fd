//! `--config FILE` (`GRANTOR_CONFIG`): a TOML file whose keys are the long
//! option names of `grantor serve`, with `-` or `_` (`database-url` or
//! `database_url`), at the top level.
//!
//! Precedence: option > environment variable > file > default. clap has no
//! file layer, so the command line is parsed once; for each key of the
//! file whose option clap filled from its default (or not at all,
//! `ArgMatches::value_source`), `--key=value` is appended to the command
//! line, which is then parsed again, so a file value goes through the same
//! value parser as the option. An unknown key, a key given twice, a table
//! value or a file that is not TOML stops the start with a message naming
//! the file and the key.

use std::ffi::OsString;

use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches};

use crate::config::Cli;

/// The option of `grantor serve` that names the file; not a file key.
const CONFIG_ID: &str = "config";

/// Parses the command line (and the configuration file it names); clap's
/// own outcomes (`--help`, `--version`, a bad option) exit as clap does.
/// `Err` is a problem with the file, to print before exiting with 2.
pub fn parse() -> Result<Cli, String> {
    parse_from(std::env::args_os().collect())
}

/// [`parse`] on a given command line (tests).
pub fn parse_from(argv: Vec<OsString>) -> Result<Cli, String> {
    let matches = Cli::command()
        .try_get_matches_from(&argv)
        .unwrap_or_else(|e| e.exit());
    let Some(("serve", serve)) = matches.subcommand() else {
        return Cli::from_arg_matches(&matches).map_err(|e| e.to_string());
    };
    let Some(path) = serve.get_one::<String>(CONFIG_ID).cloned() else {
        return Cli::from_arg_matches(&matches).map_err(|e| e.to_string());
    };
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("reading the configuration file {path}: {e}"))?;
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        // Only the message and the line: the parser's own rendering quotes
        // the line, which may hold a password or a database URL.
        let line = e
            .span()
            .map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1);
        match line {
            Some(line) => format!(
                "the configuration file {path} is not valid TOML at line {line}: {}",
                e.message()
            ),
            None => format!(
                "the configuration file {path} is not valid TOML: {}",
                e.message()
            ),
        }
    })?;

    let command = Cli::command();
    let serve_command = command
        .find_subcommand("serve")
        .expect("the serve subcommand");
    let mut seen: Vec<String> = Vec::new();
    let mut extra: Vec<OsString> = Vec::new();
    for (key, value) in &table {
        let long = key.replace('_', "-");
        let arg = serve_command
            .get_arguments()
            .find(|a| a.get_long() == Some(long.as_str()) && a.get_id() != CONFIG_ID)
            .ok_or_else(|| {
                format!(
                    "unknown key '{key}' in the configuration file {path} (keys are the long \
                     option names of `grantor serve --help`, such as database-url)"
                )
            })?;
        if seen.contains(&long) {
            return Err(format!(
                "key '{key}' is given twice in the configuration file {path}"
            ));
        }
        seen.push(long.clone());
        let value = scalar(value)
            .ok_or_else(|| format!(
                "key '{key}' in the configuration file {path}: expected a string, a number, a boolean or a list of them"
            ))?;
        let from_default = matches!(
            serve.value_source(arg.get_id().as_str()),
            None | Some(ValueSource::DefaultValue)
        );
        if from_default {
            extra.push(format!("--{long}={value}").into());
        }
    }
    let mut argv = argv;
    argv.extend(extra);
    let matches = Cli::command()
        .try_get_matches_from(&argv)
        .map_err(|e| format!("in the configuration file {path}: {}", e.render()))?;
    Cli::from_arg_matches(&matches).map_err(|e| e.to_string())
}

/// A TOML value as the option's text: strings as they are, numbers and
/// booleans written out, a list joined with commas (`trusted-proxies`).
fn scalar(value: &toml::Value) -> Option<String> {
    match value {
        toml::Value::String(s) => Some(s.clone()),
        toml::Value::Integer(i) => Some(i.to_string()),
        toml::Value::Float(f) => Some(f.to_string()),
        toml::Value::Boolean(b) => Some(b.to_string()),
        toml::Value::Array(items) => items
            .iter()
            .map(|item| match item {
                toml::Value::Array(_) | toml::Value::Table(_) => None,
                other => scalar(other),
            })
            .collect::<Option<Vec<_>>>()
            .map(|items| items.join(",")),
        toml::Value::Table(_) | toml::Value::Datetime(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Command;

    fn serve(file: &str, options: &[&str]) -> Result<crate::config::ServeArgs, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("grantor.toml");
        std::fs::write(&path, file).unwrap();
        let mut argv: Vec<OsString> = vec!["grantor".into(), "serve".into()];
        argv.push(format!("--config={}", path.display()).into());
        argv.extend(options.iter().map(OsString::from));
        parse_from(argv).map(|cli| match cli.command {
            Command::Serve(args) => args,
        })
    }

    #[test]
    fn file_values_fill_defaults_and_options_win() {
        let file = "purge-batch-size = 42\nlog_retention_days = 7\n\
                    trusted-proxies = [\"10.0.0.0/8\", \"::1\"]\nissuer = \"https://file.example/\"\n";
        let args = serve(file, &[]).unwrap();
        assert_eq!(args.purge_batch_size, 42);
        assert_eq!(args.log_retention_days, 7);
        assert_eq!(args.trusted_proxies, "10.0.0.0/8,::1");
        assert_eq!(args.issuer.as_deref(), Some("https://file.example/"));
        assert_eq!(
            args.max_connections, 1024,
            "a key not in the file keeps its default"
        );

        let args = serve(
            file,
            &["--purge-batch-size", "9", "--issuer=https://flag.example/"],
        )
        .unwrap();
        assert_eq!(args.purge_batch_size, 9);
        assert_eq!(args.issuer.as_deref(), Some("https://flag.example/"));
        assert_eq!(args.log_retention_days, 7);
    }

    #[test]
    fn the_documented_example_parses() {
        let args = serve(include_str!("../docs/grantor.example.toml"), &[]).unwrap();
        assert_eq!(args.issuer.as_deref(), Some("https://id.example.com/"));
        assert_eq!(args.trusted_proxies, "10.0.0.0/8");
        assert_eq!(args.log_format, crate::telemetry::LogFormat::Json);
    }

    #[test]
    fn bad_files_are_refused_naming_the_key() {
        let error = serve("database-ulr = \"sqlite://x.db\"\n", &[]).unwrap_err();
        assert!(error.contains("unknown key 'database-ulr'"), "{error}");
        let error = serve("config = \"other.toml\"\n", &[]).unwrap_err();
        assert!(error.contains("unknown key 'config'"), "{error}");
        let error = serve("listen = \"a\"\nlisten_ = 1\n", &[]).unwrap_err();
        assert!(error.contains("unknown key 'listen_'"), "{error}");
        let error = serve("max-connections = 5\nmax_connections = 6\n", &[]).unwrap_err();
        assert!(error.contains("given twice"), "{error}");
        let error = serve("[listen]\nport = 1\n", &[]).unwrap_err();
        assert!(error.contains("key 'listen'"), "{error}");
        let error = serve("purge-batch-size = 0\n", &[]).unwrap_err();
        assert!(error.contains("purge-batch-size"), "{error}");
        let error = serve("listen = \n", &[]).unwrap_err();
        assert!(error.contains("not valid TOML at line 1"), "{error}");
        // A broken line may hold a secret: the error never quotes it.
        for broken in [
            "listen = \"127.0.0.1:1\"\nadmin-password = \"pa\\ss-S3cret\"\n",
            "database_url = \"postgres://grantor:S3cret@db/grantor\n",
            "admin-password = \"S3cret\"\nadmin-password = \"S3cret\"\n",
        ] {
            let error = serve(broken, &[]).unwrap_err();
            assert!(!error.contains("S3cret"), "{error}");
            assert!(error.contains("configuration file"), "{error}");
        }
    }
}
