//! The shape of the spec's extensible string enums.

/// Declares an extensible string enum: one unit variant per documented wire value plus
/// `Unrecognized(String)` for anything else, so that a value added to the service later
/// deserializes instead of failing the whole response (and serializes back unchanged).
macro_rules! string_enum {
    (
        $(#[$meta:meta])*
        $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $wire:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
            /// A value not documented in API version `2025-06-01.21.0`, kept verbatim.
            Unrecognized(String),
        }

        impl $name {
            /// Every documented value, in the spec's order.
            pub const KNOWN: &'static [$name] = &[$($name::$variant),+];

            /// The value as it is spelled on the wire.
            pub fn as_str(&self) -> &str {
                match self {
                    $( $name::$variant => $wire, )+
                    $name::Unrecognized(other) => other,
                }
            }

            /// Parses a wire value. Matching is exact first, then ASCII case-insensitive
            /// (the service is case-insensitive about these); anything else is
            /// `Unrecognized`.
            pub fn from_wire(value: &str) -> Self {
                match value {
                    $( $wire => $name::$variant, )+
                    other => Self::KNOWN
                        .iter()
                        .find(|known| known.as_str().eq_ignore_ascii_case(other))
                        .cloned()
                        .unwrap_or_else(|| $name::Unrecognized(other.to_owned())),
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let value = <::std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                Ok(Self::from_wire(&value))
            }
        }
    };
}
