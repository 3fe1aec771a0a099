//! Times the stages of task streaming separately for the first factory task of a recipe:
//! generating items, rendering them through the recipe's task template, and the whole
//! stream. Used to find where the time goes (see PERFORMANCE.md).

use std::path::Path;
use std::time::Instant;

use batchyard_compile::{CompileOptions, compile, factory, tasks};
use batchyard_recipe::load;
use batchyard_recipe::model::TaskSpec;
use batchyard_recipe::render::Variables;

fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: stage_timing RECIPE");
        return;
    };
    let Ok(text) = std::fs::read_to_string(&path) else {
        eprintln!("cannot read {path}");
        return;
    };
    let loaded = load(&path, &text, &Variables::new());
    let Some(recipe) = loaded.recipe.as_ref() else {
        eprintln!("{:#?}", loaded.diagnostics);
        return;
    };
    let Some(TaskSpec::Factory(f)) = recipe.jobs.first().and_then(|j| j.tasks.first()) else {
        eprintln!("the first task of the first job must be a factory");
        return;
    };
    let base = Path::new(".");

    let t = Instant::now();
    let n = factory::items(&f.factory, base)
        .map(|it| it.count())
        .unwrap_or(0);
    println!("items only:        {n} in {:?}", t.elapsed());

    let Some(Ok(template)) = loaded.task_template(0, 0) else {
        eprintln!("no template");
        return;
    };
    let t = Instant::now();
    let mut ok = 0u64;
    if let Ok(items) = factory::items(&f.factory, base) {
        for (i, item) in items.flatten().enumerate() {
            ok += u64::from(template.render(&item, i as u64).is_ok());
        }
    }
    println!("items + render:    {ok} in {:?}", t.elapsed());

    let Ok(desired) = compile(recipe, &CompileOptions::default()) else {
        eprintln!("compile failed");
        return;
    };
    let t = Instant::now();
    let n = desired
        .jobs
        .first()
        .map(|j| tasks(&loaded, &desired, j).count())
        .unwrap_or(0);
    println!("full task stream:  {n} in {:?}", t.elapsed());
}
