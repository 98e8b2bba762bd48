import adapter from '@sveltejs/adapter-static';
import { sveltekit } from '@sveltejs/kit/vite';
import { defineConfig } from 'vite';

// The build is embedded in the onebin Python package and served by its assets handler:
// every route falls back to index.html (a single-page app), and every file gets .br and
// .gz siblings at build time so the server never compresses per request.
export default defineConfig({
	plugins: [
		sveltekit({
			adapter: adapter({ fallback: 'index.html', precompress: true, strict: true })
		})
	]
});
