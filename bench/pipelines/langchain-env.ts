/**
 * Imported before any `@langchain/core` module. LangChain hands callbacks to a background queue unless
 * `LANGCHAIN_CALLBACKS_BACKGROUND` is `'false'`; each handler reads it when constructed (its `awaitHandlers`
 * field). Awaited handlers are what callscope does, so both sides do the same work, and a handler has all
 * its events when `invoke` resolves (the scenarios check that).
 */
process.env.LANGCHAIN_CALLBACKS_BACKGROUND = 'false';

export {};
