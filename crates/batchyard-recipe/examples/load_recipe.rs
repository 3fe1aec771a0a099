//! Loads and checks one recipe file, as `batchyard validate` does, and prints how many
//! problems it has: a small program for measuring the recipe pipeline on its own
//! (`valgrind --tool=callgrind target/release/examples/load_recipe FILE`).

fn main() -> std::process::ExitCode {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: load_recipe FILE");
        return std::process::ExitCode::from(2);
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(err) => {
            eprintln!("{path}: {err}");
            return std::process::ExitCode::from(2);
        }
    };
    let loaded = batchyard_recipe::load(&path, &text, &Default::default());
    println!("{path}: {} problems", loaded.diagnostics.len());
    std::process::ExitCode::from(u8::from(loaded.has_errors()))
}
