use super::*;

fn env(name: &str) -> Option<String> {
    (name == "SECRET").then(|| "s3cr3t".to_string())
}

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, Path::new("/etc/lifeboat/lifeboat.toml"), &env)
}

const BASE: &str = "[storage.local]\nkind = \"fs\"\nroot = \"./backups\"\n";

#[test]
fn a_full_config_parses_and_resolves_paths() {
    let text = format!(
        "{BASE}\n[compression]\nalgorithm = \"gzip\"\nlevel = 9\n\n[encryption]\npassphrase = \"${{SECRET}}\"\n\n\
         [[sources]]\nname = \"app\"\nkind = \"sqlite\"\npath = \"data/app.db\"\n\n\
         [[sources]]\nname = \"conf\"\nkind = \"files\"\npaths = [\"/etc/app\"]\nexclude = [\"*.tmp\"]\n"
    );
    let config = parse(&text).unwrap();
    assert_eq!(config.compression, Compression::Gzip { level: 9 });
    assert_eq!(
        config
            .encryption
            .as_ref()
            .unwrap()
            .passphrase
            .as_ref()
            .map(lifeboat_edge::Secret::expose),
        Some("s3cr3t")
    );
    assert!(
        !format!("{config:?}").contains("s3cr3t"),
        "Debug leaks the passphrase"
    );
    let Some(o) = config.sources[0]
        .store
        .options()
        .downcast_ref::<store_sqlite::SqliteOptions>()
    else {
        panic!()
    };
    assert_eq!(o.path, Path::new("/etc/lifeboat/data/app.db"));
    assert_eq!(config.sources[0].storage, vec!["local".to_string()]);
    assert_eq!(config.sources[1].line, 17);
}

#[test]
fn unknown_keys_are_refused_with_their_line() {
    let text = format!(
        "{BASE}\n[[sources]]\nname = \"app\"\nkind = \"sqlite\"\npath = \"a.db\"\npaht = \"b\"\n"
    );
    let err = parse(&text).unwrap_err().to_string();
    assert!(err.contains("line 5") && err.contains("paht"), "{err}");
    let err = parse("[storage.local]\nkind = \"fs\"\nroot = \"x\"\nbogus = 1\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("line 1") && err.contains("bogus"), "{err}");
    let err = parse(&format!("{BASE}[compresion]\nlevel = 3\n"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("compresion"), "{err}");
}

#[test]
fn unset_variables_are_named() {
    let err = parse(&format!(
        "{BASE}[encryption]\npassphrase = \"${{NOT_SET_ANYWHERE}}\"\n"
    ))
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("NOT_SET_ANYWHERE") && err.contains("encryption.passphrase"),
        "{err}"
    );
}

#[test]
fn bad_and_duplicate_names_are_refused() {
    let dup = format!(
        "{BASE}[[sources]]\nname = \"app\"\nkind = \"sqlite\"\npath = \"a\"\n[[sources]]\nname = \"app\"\nkind = \"sqlite\"\npath = \"b\"\n"
    );
    let err = parse(&dup).unwrap_err().to_string();
    assert!(
        err.contains("`app` is used twice") && err.contains("line 8") && err.contains("line 4"),
        "{err}"
    );
    let bad = format!("{BASE}[[sources]]\nname = \"../x\"\nkind = \"sqlite\"\npath = \"a\"\n");
    let err = parse(&bad).unwrap_err().to_string();
    assert!(err.contains("`../x`") && err.contains("line 4"), "{err}");
}

#[test]
fn storage_references_and_encryption_are_checked() {
    let text = format!("{BASE}[[sources]]\nname = \"app\"\nkind = \"sqlite\"\npath = \"a\"\nstorage = [\"offsite\"]\n");
    assert!(parse(&text)
        .unwrap_err()
        .to_string()
        .contains("`offsite`, which is not defined"));
    let text = format!("{BASE}[encryption]\nidentity_file = \"k.txt\"\n");
    assert!(parse(&text)
        .unwrap_err()
        .to_string()
        .contains("neither `recipients` nor `passphrase`"));
    let text = "[[sources]]\nname = \"app\"\nkind = \"sqlite\"\npath = \"a\"\n";
    assert!(parse(text)
        .unwrap_err()
        .to_string()
        .contains("no [storage.NAME]"));
    let text = format!("{BASE}[[sources]]\nname = \"app\"\nkind = \"mongodb\"\n");
    assert!(parse(&text)
        .unwrap_err()
        .to_string()
        .contains("unknown kind `mongodb`"));
}

#[test]
fn retention_keys_are_checked_and_storages_not_repeated() {
    let text = format!("{BASE}[[sources]]\nname = \"app\"\nkind = \"sqlite\"\npath = \"a\"\nretention = {{ keep_lsat = 3 }}\n");
    assert!(parse(&text).unwrap_err().to_string().contains("keep_lsat"));
    let text = format!("{BASE}[[sources]]\nname = \"app\"\nkind = \"sqlite\"\npath = \"a\"\nretention = {{ keep_last = 3, keep_daily = 7 }}\n");
    assert_eq!(
        parse(&text).unwrap().sources[0]
            .retention
            .as_ref()
            .unwrap()
            .keep_daily,
        Some(7)
    );
    let text = format!("{BASE}[[sources]]\nname = \"app\"\nkind = \"sqlite\"\npath = \"a\"\nstorage = [\"local\", \"local\"]\n");
    assert!(parse(&text).unwrap_err().to_string().contains("twice"));
}

#[test]
fn option_errors_quote_the_config_not_the_environment() {
    let text =
        format!("{BASE}[[sources]]\nname = \"conf\"\nkind = \"files\"\npaths = \"${{SECRET}}\"\n");
    let err = parse(&text).unwrap_err().to_string();
    assert!(!err.contains("s3cr3t"), "{err}");
    assert!(err.contains("line 4") && err.contains("${SECRET}"), "{err}");
}
