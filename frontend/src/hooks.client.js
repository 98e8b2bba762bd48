// An unknown path is an ordinary outcome with its own page (+error.svelte), not a
// fault: only real errors go to the console, as SvelteKit's default would log both.

/** @type {import('@sveltejs/kit').HandleClientError} */
export function handleError({ error, status, message }) {
	if (status !== 404) console.error(error);
	return { message };
}
