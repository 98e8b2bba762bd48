// A single-page app: the server answers every navigation with the same shell
// (index.html) and the router renders the page in the browser.
export const ssr = false;
export const prerender = false;
