use crate::exit::Exit;

/// Prints the recipe JSON Schema.
pub fn run() -> miette::Result<Exit> {
    crate::output::emit(&batchyard_recipe::schema::recipe_schema_text());
    Ok(Exit::Success)
}
