declare const __PKG_VERSION__: string | undefined;

/** Replaced at bundle time (scripts/build.mjs); "dev" when run from source (tests). */
export const VERSION: string = typeof __PKG_VERSION__ !== 'undefined' ? __PKG_VERSION__ : 'dev';
