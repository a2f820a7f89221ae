// The core's types are part of the public API of `Holdfast`: messages, close codes, outcomes,
// configuration and upgrade decisions.
@_exported import HoldfastCore
