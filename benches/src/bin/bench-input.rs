//! `bench-input SIZE_MIB [OUTPUT] [--seed N]`: writes the benchmark input (half random, half
//! JSON log lines, alternating in 1 MiB blocks; see [`lifeboat_benches`]) of `SIZE_MIB` MiB to
//! `OUTPUT`, or to stdout when `OUTPUT` is absent or `-`.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::process::ExitCode;

use lifeboat_benches::InputGenerator;

const USAGE: &str = "usage: bench-input SIZE_MIB [OUTPUT|-] [--seed N]";

fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("bench-input: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Vec<String>) -> Result<(), String> {
    let mut seed = 0x6c69_6665_626f_6174; // "lifeboat"
    let mut positional = Vec::new();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--seed" => {
                let value = args.next().ok_or(USAGE)?;
                seed = value
                    .parse()
                    .map_err(|_| format!("--seed {value}: not a number"))?;
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            _ => positional.push(arg),
        }
    }
    let (size, output) = match positional.as_slice() {
        [size] => (size, None),
        [size, output] => (size, Some(output.as_str()).filter(|o| *o != "-")),
        _ => return Err(USAGE.to_string()),
    };
    let mib: u64 = size
        .parse()
        .map_err(|_| format!("size `{size}` is not a whole number of MiB"))?;
    let total = mib * 1024 * 1024;

    let mut out: Box<dyn Write> = match output {
        Some(path) => Box::new(BufWriter::new(
            File::create(path).map_err(|err| format!("cannot create {path}: {err}"))?,
        )),
        None => Box::new(io::stdout().lock()),
    };
    InputGenerator::new(seed)
        .write_mixed(&mut out, total)
        .map_err(|err| format!("writing the input failed: {err}"))
}
