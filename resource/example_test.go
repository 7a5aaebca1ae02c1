package resource_test

import (
	"context"
	"encoding/json"
	"log"
	"net/http"
	"os"

	"github.com/go-chi/chi/v5"

	"github.com/hallpass/hallpass/resource"
)

// A school API that anyone may read the public page of, that students and
// teachers read results from with an offline-verified token, and that only
// teachers publish results to, with the token introspected so that a
// revoked one stops working at once.
func ExampleVerifier_Middleware() {
	ctx := context.Background()
	v, err := resource.NewVerifier(ctx, resource.Config{
		Issuer:       "https://id.school.example",
		Audience:     "https://school.example/api",
		ClientID:     "school-api", // only needed for introspection
		ClientSecret: os.Getenv("SCHOOL_API_CLIENT_SECRET"),
	})
	if err != nil {
		log.Fatal(err)
	}
	defer v.Close()

	results := func(w http.ResponseWriter, r *http.Request) {
		c, _ := resource.FromContext(r.Context())
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"student": c.Subject, "results": []int{17, 19}})
	}
	publish := func(w http.ResponseWriter, r *http.Request) {
		c, _ := resource.FromContext(r.Context())
		log.Printf("results published by %s", c.Username)
		w.WriteHeader(http.StatusNoContent)
	}

	// With chi.
	r := chi.NewRouter()
	r.Get("/", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("Welcome to the school")) })
	r.Group(func(r chi.Router) {
		r.Use(v.Middleware) // offline: no call to hallpass per request
		r.With(resource.RequireScope("results:read")).Get("/results", results)
	})
	r.Group(func(r chi.Router) {
		r.Use(v.IntrospectMiddleware) // stateful: revocation shows at once
		r.With(resource.RequireScope("results:write")).Post("/results", publish)
	})

	// Or with net/http alone.
	mux := http.NewServeMux()
	mux.Handle("GET /results", v.Middleware(resource.RequireScope("results:read")(http.HandlerFunc(results))))
	mux.Handle("POST /results", v.IntrospectMiddleware(resource.RequireScope("results:write")(http.HandlerFunc(publish))))

	log.Fatal(http.ListenAndServe("localhost:8081", r))
}
