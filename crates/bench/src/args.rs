//! A tiny `--flag value` parser: the benchmark has few flags and no need for more.

use anyhow::{bail, Context};
use std::collections::BTreeMap;
use std::str::FromStr;

pub(crate) struct Flags(BTreeMap<String, String>);

impl Flags {
    pub(crate) fn parse(argv: impl Iterator<Item = String>) -> anyhow::Result<Self> {
        let mut map = BTreeMap::new();
        let mut argv = argv.peekable();
        while let Some(arg) = argv.next() {
            let Some(name) = arg.strip_prefix("--") else {
                bail!("unexpected argument `{arg}`")
            };
            let (name, value) = match name.split_once('=') {
                Some((n, v)) => (n.to_owned(), v.to_owned()),
                None => {
                    let v = argv
                        .next()
                        .with_context(|| format!("--{name} needs a value"))?;
                    (name.to_owned(), v)
                }
            };
            if map.insert(name.clone(), value).is_some() {
                bail!("--{name} given twice");
            }
        }
        Ok(Flags(map))
    }

    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    pub(crate) fn str_or<'a>(&'a self, name: &str, default: &'a str) -> &'a str {
        self.get(name).unwrap_or(default)
    }

    pub(crate) fn num_or<T: FromStr>(&self, name: &str, default: T) -> anyhow::Result<T>
    where
        T::Err: std::fmt::Display,
    {
        match self.get(name) {
            None => Ok(default),
            Some(raw) => raw
                .parse()
                .map_err(|e| anyhow::anyhow!("--{name} {raw}: {e}")),
        }
    }
}

impl Flags {
    /// Refuses flags the command does not know (a typo would otherwise be silently ignored).
    pub(crate) fn only(&self, known: &[&str]) -> anyhow::Result<()> {
        for name in self.0.keys() {
            if !known.contains(&name.as_str()) {
                bail!("unknown flag --{name} (known: {})", known.join(", "));
            }
        }
        Ok(())
    }
}
