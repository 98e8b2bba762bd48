// A one-line status message that outlives a navigation ("Deleted …" shown on the
// list the delete went back to). The layout renders it in a live region that is
// always in the page, so screen readers announce each new message; the next
// navigation clears it.
export const flash = $state({ message: '' });

export function announce(message) {
	flash.message = message;
}
