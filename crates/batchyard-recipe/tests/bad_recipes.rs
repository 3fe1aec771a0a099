//! Every file in tests/bad/ is a broken recipe; its rendered report (no colour, fixed width)
//! is snapshot-tested so the line, column, label and help stay right.
#![allow(clippy::unwrap_used)]

use std::path::Path;

#[test]
fn bad_recipes_render_precise_reports() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bad");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(
        files.len() >= 30,
        "the bad recipe corpus shrank to {}",
        files.len()
    );
    for path in files {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).unwrap();
        let loaded = batchyard_recipe::load(&format!("{name}.yaml"), &text, &Default::default());
        assert!(
            loaded.has_errors(),
            "{name}.yaml should have at least one error"
        );
        assert!(
            loaded.recipe.is_none(),
            "{name}.yaml must not produce a recipe"
        );
        let rendered = loaded.render(batchyard_recipe::report::Style {
            color: false,
            width: 100,
        });
        insta::with_settings!({ snapshot_path => "snapshots/bad", prepend_module_to_snapshot => false }, {
            insta::assert_snapshot!(name, rendered);
        });
    }
}
