// The API docs page: Swagger UI (vendored, served by the coordinator) on this
// coordinator's own OpenAPI document. Nothing is fetched from anywhere else.
window.ui = SwaggerUIBundle({
  url: "/api/v1/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  validatorUrl: null, // the default sends the document to a public validator
  withCredentials: true, // "Try it out" as the signed-in browser (session cookie)
  persistAuthorization: false,
});
