//! The registry of stable diagnostic codes: every problem batchyard reports to a user, from
//! a recipe's unknown field to an unreachable Batch account, carries one of these codes, so
//! people and CI can search for it and filter on it (`--output json` carries it as `code`
//! or `error_code`).
//!
//! A code never changes meaning and is never reused once published; a problem that needs
//! a different fix gets a new code. docs/diagnostics.md is generated from this table
//! ([`markdown`]); a test keeps it current.

use std::fmt;

use serde::{Serialize, Serializer};

/// Declares [`Code`] from one table: variant, code text and a one-line description.
macro_rules! codes {
    ($( $variant:ident = $code:literal : $description:literal, )*) => {
        /// A stable diagnostic code. See the module documentation.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum Code {
            $(
                #[doc = $description]
                $variant,
            )*
        }

        impl Code {
            /// Every code, in the order of the table.
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];

            /// The code as users see it: `batchyard::AREA::NAME`.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Code::$variant => $code,)*
                }
            }

            /// What the code means, in one line.
            pub const fn description(self) -> &'static str {
                match self {
                    $(Code::$variant => $description,)*
                }
            }

            /// The name of the variant, as written in the source (`Code::UnknownField`).
            pub const fn variant_name(self) -> &'static str {
                match self {
                    $(Code::$variant => stringify!($variant),)*
                }
            }
        }
    };
}

codes! {
    // The recipe file, its YAML and its schema.
    RecipeTooLarge = "batchyard::recipe::too_large":
        "The recipe file is larger than batchyard reads; generate tasks with a `factory` instead of listing them.",
    RecipeUnreadable = "batchyard::recipe::unreadable":
        "The recipe file cannot be read, or is not UTF-8 text.",
    YamlSyntax = "batchyard::recipe::yaml_syntax":
        "The recipe is not valid YAML.",
    NotAMapping = "batchyard::recipe::not_a_mapping":
        "The recipe's top level is not a YAML mapping.",
    UnknownField = "batchyard::recipe::unknown_field":
        "A key the recipe schema does not know (often a typo; the help names the closest key).",
    MissingField = "batchyard::recipe::missing_field":
        "A required key is missing.",
    InvalidValue = "batchyard::recipe::invalid_value":
        "A value has the wrong type or is outside what the key accepts.",
    UnknownChoice = "batchyard::recipe::unknown_choice":
        "A key that must be one of a fixed set of choices names none of them.",
    NotOneChoice = "batchyard::recipe::not_one_choice":
        "A place that takes exactly one of several choices has none or more than one.",
    ConflictingKeys = "batchyard::recipe::conflicting_keys":
        "Two keys that exclude each other are both given.",
    MissingOneOf = "batchyard::recipe::missing_one_of":
        "Neither of two keys, one of which is required, is given.",
    TooManyProblems = "batchyard::recipe::too_many_problems":
        "The recipe has more schema problems than are listed; fix the listed ones first.",
    SchemaBroken = "batchyard::recipe::schema_broken":
        "batchyard's own recipe schema failed to compile (a defect in batchyard; please report it).",
    UndeclaredVariable = "batchyard::recipe::undeclared_variable":
        "`--var` or `--vars` sets a variable the recipe does not declare.",
    ReservedName = "batchyard::recipe::reserved_name":
        "A variable uses a name the templates reserve.",
    InvalidId = "batchyard::recipe::invalid_id":
        "A pool, job or task id breaks Batch's id rules (characters or length).",
    DuplicateId = "batchyard::recipe::duplicate_id":
        "Two pools or two jobs share an id.",
    UnknownPool = "batchyard::recipe::unknown_pool":
        "A job names a pool the recipe does not define.",
    UnknownRegistry = "batchyard::recipe::unknown_registry":
        "A pool names a container registry not defined in `registries`.",
    InvalidImage = "batchyard::recipe::invalid_image":
        "A pool's `image` is incomplete or mixes a custom and a marketplace image.",
    InvalidMount = "batchyard::recipe::invalid_mount":
        "A mount's directory or credentials are wrong (outside the mounts folder, used twice, not exactly one credential).",
    InvalidKeyVaultUrl = "batchyard::recipe::invalid_key_vault_url":
        "A `{keyvault: URL}` secret is not a Key Vault secret identifier (`https://VAULT.vault.azure.net/secrets/NAME[/VERSION]`).",
    UnreadableSecret = "batchyard::recipe::unreadable_secret":
        "plan, apply or run cannot read a secret the recipe uses: an unset or empty variable, a missing Key Vault secret, no permission (403) or no credential.",
    RecipeInvalid = "batchyard::recipe::invalid":
        "A command stopped because the recipe has errors; the diagnostics printed before it say which.",
    WarningsDenied = "batchyard::recipe::warnings_denied":
        "A command stopped because the recipe has warnings and `--deny-warnings` is set.",
    Template = "batchyard::recipe::template":
        "A template (`{{ ... }}`, `{% ... %}`) failed to render.",

    // Tasks, dependencies and factories.
    DuplicateTaskId = "batchyard::task::duplicate_id":
        "Two tasks of one job share an id.",
    SelfDependency = "batchyard::task::self_dependency":
        "A task depends on itself.",
    UnknownDependency = "batchyard::task::unknown_dependency":
        "`depends_on` names a task the job does not have.",
    DependencyCycle = "batchyard::task::dependency_cycle":
        "Tasks depend on each other in a cycle, so none of them can start.",
    InvalidDependency = "batchyard::task::invalid_dependency":
        "A `depends_on` entry is malformed (for example a bad id range), or a factory task is also a merge task.",
    InvalidFactory = "batchyard::task::invalid_factory":
        "A task factory cannot produce its items (a bad range, file or generator).",
    FactoryTooLarge = "batchyard::task::factory_too_large":
        "A task factory makes more tasks than batchyard allows in one job.",
    InvalidGeneratedTask = "batchyard::task::invalid_generated":
        "A task made by a factory or template is not a valid task once rendered.",
    MpiTooFewNodes = "batchyard::task::mpi_too_few_nodes":
        "A multi-instance (MPI) task needs more nodes than its pool can have.",
    TooManySlots = "batchyard::task::too_many_slots":
        "A task needs more slots than a node of its pool has.",
    ResourceFileSource = "batchyard::task::resource_file_source":
        "A resource file has no source or more than one.",
    PoolMismatch = "batchyard::task::pool_mismatch":
        "A task needs something its pool does not offer: GPUs, inter-node communication or containers.",
    MsMpiInContainer = "batchyard::task::msmpi_in_container":
        "An MS-MPI task is set to run in a container; MS-MPI runs on Windows hosts only.",

    // VM sizes, OS images and containers.
    UnknownVmSize = "batchyard::hardware::unknown_vm_size":
        "A VM size is not in batchyard's hardware catalogue, so nothing about it can be checked (warning).",
    AutoNeedsCatalogue = "batchyard::hardware::auto_needs_catalogue":
        "A setting is `auto` but the VM size is not in the catalogue, so there is nothing to derive it from.",
    RetiredSeries = "batchyard::hardware::retired_series":
        "Azure retired (or is retiring) the VM size's series (warning).",
    DeprecatedOs = "batchyard::hardware::deprecated_os":
        "An OS image alias is deprecated or its Batch support ends soon (warning).",
    UnknownOs = "batchyard::hardware::unknown_os":
        "An `os` alias batchyard does not know.",
    NoGpu = "batchyard::hardware::no_gpu":
        "A pool asks for GPUs on a VM size without them.",
    NoRdma = "batchyard::hardware::no_rdma":
        "A pool asks for RDMA on a VM size without an RDMA network.",
    RdmaSetup = "batchyard::hardware::rdma_setup":
        "An RDMA pool lacks inter-node communication or runs more than one task per node.",
    GenerationMismatch = "batchyard::hardware::generation_mismatch":
        "The VM size boots only Generation 2 images and the OS image is Generation 1.",
    NoContainerRuntime = "batchyard::hardware::no_container_runtime":
        "A pool runs containers on an image without a container runtime.",
    NoGpuContainers = "batchyard::hardware::no_gpu_containers":
        "A pool runs GPU containers where they cannot start (Windows, or no NVIDIA container toolkit).",

    // Task inputs and outputs.
    NoStorage = "batchyard::data::no_storage":
        "Inputs or outputs are used without a `storage` section.",
    InputSource = "batchyard::data::input_source":
        "An input has no source or more than one (`local`, `blob`, `url`).",
    InvalidDataPath = "batchyard::data::invalid_path":
        "An input's or output's path is not usable (absolute, leaving its folder, or no such local file).",
    UrlWithoutFile = "batchyard::data::url_without_file":
        "A `url` input names no file and has no `to`.",
    PoolInputsNotAwaited = "batchyard::data::pool_inputs_not_awaited":
        "A pool has `inputs` but its start task does not wait for success, so tasks may start before the files are there.",

    // The payloads sent to Batch.
    PayloadModel = "batchyard::payload::model_mismatch":
        "A pool, job or task payload does not fit Batch's data model (a defect or a value Batch cannot take).",
    PayloadSchema = "batchyard::payload::api_schema":
        "A payload breaks the Batch REST API schema.",
    PayloadWrite = "batchyard::payload::write_failed":
        "A generated task could not be written out.",

    // Command-line input.
    InvalidVariable = "batchyard::input::invalid_variable":
        "A `--var` assignment or a `--vars` file cannot be read or parsed.",
    InvalidArgument = "batchyard::input::invalid_argument":
        "A flag's value is not usable (a duration, a time, a model), or flags that do not go together.",
    UnknownJob = "batchyard::input::unknown_job":
        "A job or task named on the command line is not in the recipe or at the target.",
    NoRecipeOrState = "batchyard::input::no_recipe_or_state":
        "No recipe or local state was found to read, or several recipes could be meant.",
    FileExists = "batchyard::input::file_exists":
        "The file a command would write already exists.",

    // Targets and credentials.
    NeedsAzure = "batchyard::target::needs_azure":
        "The recipe needs Azure Batch (Windows pools); the local service cannot run it.",
    InvalidAccountUrl = "batchyard::target::invalid_account_url":
        "The Batch account URL is not usable.",
    Credentials = "batchyard::target::credentials":
        "Credentials are missing or malformed (Shared Key, Microsoft Entra ID).",

    // Calls to Batch.
    BatchUnreachable = "batchyard::batch::unreachable":
        "Batch did not answer (connection refused, dropped or timed out) on any attempt.",
    BatchAuth = "batchyard::batch::auth_refused":
        "Batch refused the credentials (401/403), or no token could be had.",
    BatchService = "batchyard::batch::service_error":
        "Batch answered with an error; the message carries the service's own code.",

    // apply, destroy and run.
    ApplyRefused = "batchyard::apply::refused":
        "apply changed nothing: conflicts, replacements without `--allow-replace`, or destructive actions not confirmed.",
    ApplyConflict = "batchyard::apply::conflict":
        "A resource with a wanted id appeared while applying and is not this recipe's.",
    ApplyTimeout = "batchyard::apply::timeout":
        "A pool or job did not become ready in time; apply again to keep waiting.",
    PoolFailed = "batchyard::apply::pool_failed":
        "A pool failed to resize or none of its nodes is usable.",
    TasksNotAdded = "batchyard::apply::tasks_not_added":
        "Batch refused some tasks of a job.",
    FollowTimeout = "batchyard::run::timeout":
        "Following the jobs took longer than allowed.",
    TaskWillNotRun = "batchyard::task::will_not_run":
        "A task will never run (a task it depends on failed).",
    TaskNotStarted = "batchyard::task::not_started":
        "A task has not started yet, so it has no output to show.",
    NothingMeasured = "batchyard::simulate::nothing_measured":
        "`simulate --duration measured` found no completed task to measure.",

    // Storage.
    StorageUnusable = "batchyard::data::storage":
        "The recipe's storage cannot be used (account URL, listing, signing).",
    StorageSecret = "batchyard::data::secret":
        "A secret the recipe reads is missing or malformed.",
    TransferFailed = "batchyard::data::transfer_failed":
        "Uploading inputs or downloading outputs failed; run again, what was moved is kept.",

    // The local Batch service.
    LocalState = "batchyard::local::state":
        "The local state folder or the local service's private files cannot be used.",
    LocalBusy = "batchyard::local::busy":
        "Another batchyard command holds the local state; wait for it or stop it.",
    LocalStart = "batchyard::local::start_failed":
        "The local Batch service did not start; its log says why.",
    LocalStopped = "batchyard::local::stopped":
        "The local Batch service or the emulator stopped with an error.",

    // Shipyard import.
    ImportUnreadable = "batchyard::import::unreadable":
        "The Shipyard configuration folder cannot be read.",
    ImportFailed = "batchyard::import::failed":
        "The Shipyard configuration cannot be imported.",

    // Files and internals.
    WriteFailed = "batchyard::output::write_failed":
        "A file or stdout could not be written.",
    Internal = "batchyard::internal::defect":
        "Something failed that should not (a defect in batchyard); please report it with the message.",
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<Code> for String {
    fn from(code: Code) -> Self {
        code.as_str().to_owned()
    }
}

impl Serialize for Code {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// docs/diagnostics.md: every code with its description, grouped by area.
pub fn markdown() -> String {
    let mut out = String::from(
        "# Diagnostic codes\n\n\
         <!-- Generated from crates/batchyard-recipe/src/code.rs; regenerate with \
         BATCHYARD_BLESS=1 cargo test -p batchyard-recipe --test diagnostics -->\n\n\
         Every problem batchyard reports carries a stable code. People see it above the \
         message; `--output json` carries it as `code` in each diagnostic and as \
         `error_code` beside a command's `error`. A code keeps its meaning for good: search \
         for it, or filter on it in CI (for example, fail only on \
         `batchyard::hardware::retired_series`).\n",
    );
    let mut area = "";
    for code in Code::ALL {
        let this = code.as_str().split("::").nth(1).unwrap_or_default();
        if this != area {
            area = this;
            out.push_str(&format!("\n## {area}\n\n| code | meaning |\n|---|---|\n"));
        }
        out.push_str(&format!(
            "| `{}` | {} |\n",
            code.as_str(),
            code.description().replace('|', "\\|")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_well_formed() {
        let mut seen = std::collections::BTreeSet::new();
        for code in Code::ALL {
            let text = code.as_str();
            assert!(seen.insert(text), "{text} is listed twice");
            let parts: Vec<&str> = text.split("::").collect();
            assert_eq!(parts.len(), 3, "{text} is not batchyard::AREA::NAME");
            assert_eq!(parts[0], "batchyard", "{text}");
            assert!(
                parts[1..].iter().all(|p| !p.is_empty()
                    && p.chars().all(|c| c.is_ascii_lowercase() || c == '_')),
                "{text} must be lower-case words joined by `_`"
            );
            assert!(
                code.description().ends_with('.'),
                "{text}: description is a sentence"
            );
        }
    }
}
