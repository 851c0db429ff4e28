// Replaced at bundle time by scripts/build.mjs; tests run from source see the dev marker.
declare const __HARDEN_VERSION__: string | undefined;

export const VERSION: string = typeof __HARDEN_VERSION__ === 'string' ? __HARDEN_VERSION__ : '0.0.0-dev';
