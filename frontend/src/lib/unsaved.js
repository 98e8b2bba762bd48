// Asks before throwing away unsaved changes. `isDirty` is read when a navigation
// starts: in-app links, back/forward and goto get a confirm dialog; closing or
// reloading the tab (SvelteKit's beforeunload, navigation.willUnload) gets the
// browser's own "Leave site?" prompt, the only one a page may show then.
import { beforeNavigate } from '$app/navigation';

export const LEAVE_QUESTION = 'You have unsaved changes. Leave this page and lose them?';

/** Call during component initialisation. */
export function guardUnsaved(isDirty) {
	beforeNavigate((navigation) => {
		if (!isDirty()) return;
		if (navigation.willUnload) navigation.cancel();
		else if (!confirm(LEAVE_QUESTION)) navigation.cancel();
	});
}
