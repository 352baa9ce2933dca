// Package manifest builds jitbot's Microsoft Teams app package: the
// manifest.json that tells Teams about the bot and the two icons Teams shows
// for it, zipped the way the Teams admin center and "Upload a custom app"
// accept.
//
// The manifest follows schema version 1.30 (see [SchemaURL]). It declares a
// single bot, identified by the bot's Microsoft App ID, which is also the
// app's id. The bot works in personal chats, teams and group chats; each scope
// lists the commands Teams suggests there, the bot's own (package
// internal/chatcmd, which the bot's help reads too): all of them in the
// personal chat, all but audit in teams and group chats.
//
// [Build] returns the manifest JSON and [Package] writes the zip. Both
// validate [Options] first and report every problem as a [FieldError] naming
// the offending field. The output depends only on the options, so building
// twice yields identical bytes and a package can be rebuilt and compared.
//
// The icons are drawn in code: a key, white on the accent colour in
// color.png (192×192) and white on transparent in outline.png (32×32).
package manifest
