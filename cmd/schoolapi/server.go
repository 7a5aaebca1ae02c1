package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"

	"github.com/hallpass/hallpass/resource"
)

// Scopes and roles the API checks.
const (
	scopeResultsRead   = "results:read"
	scopeResultsWrite  = "results:write"
	scopeScheduleWrite = "schedule:write"
	// acrMFA is hallpass's authentication context of a sign-in with a
	// second factor: setting the schedule demands it (RFC 9470).
	acrMFA      = "urn:hallpass:acr:mfa"
	roleTeacher = "teacher"
)

// maxBody caps every request body.
const maxBody = 64 << 10

// maxExams caps the length of the schedule.
const maxExams = 200

// schoolName and schoolNotice are what GET /school shows everyone.
const (
	schoolName   = "Hallpass High School"
	schoolNotice = "Exam results are published through the school API. Sign in with hallpass to see yours."
)

// serverConfig is what newServer needs.
type serverConfig struct {
	// Read authenticates the read routes (offline verification).
	Read func(http.Handler) http.Handler
	// Write authenticates the write routes: offline as Read, or by
	// introspection when revocation must show at once.
	Write func(http.Handler) http.Handler
	// Logger receives one line per request.
	Logger *slog.Logger
	// Now is the clock that stamps published results.
	Now func() time.Time
	// Metadata, when set, is served at MetadataPath: the API's protected
	// resource metadata (RFC 9728).
	Metadata     http.Handler
	MetadataPath string
}

// Result is one published exam result.
type Result struct {
	ID          string    `json:"id"`
	Student     string    `json:"student"`
	Course      string    `json:"course"`
	Grade       string    `json:"grade"`
	PublishedBy string    `json:"published_by"`
	PublishedAt time.Time `json:"published_at"`
}

// Exam is one entry of the exam schedule.
type Exam struct {
	Course string `json:"course"`
	Date   string `json:"date"`  // YYYY-MM-DD
	Start  string `json:"start"` // HH:MM, 24-hour
	Room   string `json:"room,omitempty"`
}

// school is the API's in-memory data.
type school struct {
	mu       sync.Mutex
	results  []Result
	nextID   int
	schedule []Exam
}

// newSchool returns the seeded data: a few results (bob's among them) and
// a schedule.
func newSchool(now time.Time) *school {
	s := &school{schedule: []Exam{
		{Course: "Mathematics", Date: "2026-06-15", Start: "09:00", Room: "A1"},
		{Course: "History", Date: "2026-06-17", Start: "13:30", Room: "B2"},
	}}
	for _, r := range []Result{
		{Student: "bob", Course: "Mathematics", Grade: "B+"},
		{Student: "bob", Course: "History", Grade: "A-"},
		{Student: "carol", Course: "Mathematics", Grade: "A"},
	} {
		r.PublishedBy, r.PublishedAt = "alice", now.UTC().Truncate(time.Second)
		s.add(r)
	}
	return s
}

// add stores r under a new id and returns it. The caller must not hold mu.
func (s *school) add(r Result) Result {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextID++
	r.ID = strconv.Itoa(s.nextID)
	s.results = append(s.results, r)
	return r
}

// resultsFor returns every result when all is true, else those of student.
func (s *school) resultsFor(student string, all bool) []Result {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []Result{}
	for _, r := range s.results {
		if all || (student != "" && r.Student == student) {
			out = append(out, r)
		}
	}
	return out
}

func (s *school) getSchedule() []Exam {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Exam{}, s.schedule...)
}

func (s *school) setSchedule(exams []Exam) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.schedule = append([]Exam{}, exams...)
}

// api serves the routes over one school.
type api struct {
	school *school
	now    func() time.Time
}

// newServer returns the API's HTTP handler over freshly seeded data.
func newServer(cfg serverConfig) http.Handler {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	a := &api{school: newSchool(cfg.Now()), now: cfg.Now}
	r := chi.NewRouter()
	r.Use(logRequests(cfg.Logger), limitBody)
	r.NotFound(func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "no such resource")
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "method not allowed on this resource")
	})

	r.Get("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	r.Get("/school", a.getSchool)
	if cfg.Metadata != nil {
		r.Method(http.MethodGet, cfg.MetadataPath, cfg.Metadata)
		r.Method(http.MethodHead, cfg.MetadataPath, cfg.Metadata)
	}
	r.With(cfg.Read, resource.RequireScope(scopeResultsRead)).Get("/results", a.listResults)
	r.With(cfg.Write, resource.RequireScope(scopeResultsWrite)).Post("/results", a.publishResult)
	r.With(cfg.Read, resource.RequireScope(scopeResultsRead)).Get("/schedule", a.getSchedule)
	r.With(cfg.Write, resource.RequireScope(scopeScheduleWrite), resource.RequireACR(acrMFA)).Put("/schedule", a.putSchedule)
	return r
}

func (a *api) getSchool(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"name": schoolName, "notice": schoolNotice})
}

// listResults shows a teacher every result and anyone else their own.
func (a *api) listResults(w http.ResponseWriter, r *http.Request) {
	c, ok := resource.FromContext(r.Context())
	if !ok {
		writeError(w, http.StatusUnauthorized, "invalid_token", "no verified token")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"results": a.school.resultsFor(c.Username, c.HasRole(roleTeacher))})
}

// resultInput is the body of POST /results.
type resultInput struct {
	Student string `json:"student"`
	Course  string `json:"course"`
	Grade   string `json:"grade"`
}

var (
	usernameRE = regexp.MustCompile(`^[A-Za-z0-9._@-]{1,64}$`)
	gradeRE    = regexp.MustCompile(`^[A-F][+-]?$`)
)

func (in *resultInput) validate() error {
	in.Student, in.Course, in.Grade = strings.TrimSpace(in.Student), strings.TrimSpace(in.Course), strings.TrimSpace(in.Grade)
	var errs []error
	if !usernameRE.MatchString(in.Student) {
		errs = append(errs, errors.New("student must be a username of 1 to 64 characters A-Z a-z 0-9 . _ @ -"))
	}
	if err := checkText("course", in.Course, 1, 100); err != nil {
		errs = append(errs, err)
	}
	if !gradeRE.MatchString(in.Grade) {
		errs = append(errs, errors.New("grade must be A to F, optionally followed by + or -"))
	}
	return errors.Join(errs...)
}

func (a *api) publishResult(w http.ResponseWriter, r *http.Request) {
	c, ok := resource.FromContext(r.Context())
	if !ok {
		writeError(w, http.StatusUnauthorized, "invalid_token", "no verified token")
		return
	}
	var in resultInput
	if !decodeJSON(w, r, &in) {
		return
	}
	if err := in.validate(); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	by := c.Username
	if by == "" {
		by = c.Subject
	}
	res := a.school.add(Result{Student: in.Student, Course: in.Course, Grade: in.Grade, PublishedBy: by, PublishedAt: a.now().UTC().Truncate(time.Second)})
	w.Header().Set("Location", "/results/"+res.ID)
	writeJSON(w, http.StatusCreated, res)
}

func (a *api) getSchedule(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"exams": a.school.getSchedule()})
}

func (e *Exam) validate() error {
	e.Course, e.Date, e.Start, e.Room = strings.TrimSpace(e.Course), strings.TrimSpace(e.Date), strings.TrimSpace(e.Start), strings.TrimSpace(e.Room)
	var errs []error
	if err := checkText("course", e.Course, 1, 100); err != nil {
		errs = append(errs, err)
	}
	if _, err := time.Parse(time.DateOnly, e.Date); err != nil {
		errs = append(errs, fmt.Errorf("date %q must be YYYY-MM-DD", e.Date))
	}
	if _, err := time.Parse("15:04", e.Start); err != nil {
		errs = append(errs, fmt.Errorf("start %q must be HH:MM", e.Start))
	}
	if err := checkText("room", e.Room, 0, 50); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// putSchedule replaces the schedule with the JSON list of exams sent.
func (a *api) putSchedule(w http.ResponseWriter, r *http.Request) {
	var exams []Exam
	if !decodeJSON(w, r, &exams) {
		return
	}
	if exams == nil {
		writeError(w, http.StatusBadRequest, "invalid_request", "the body must be a JSON list of exams")
		return
	}
	if len(exams) > maxExams {
		writeError(w, http.StatusBadRequest, "invalid_request", fmt.Sprintf("at most %d exams", maxExams))
		return
	}
	var errs []error
	for i := range exams {
		if err := exams[i].validate(); err != nil {
			errs = append(errs, fmt.Errorf("exam %d: %w", i, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	a.school.setSchedule(exams)
	writeJSON(w, http.StatusOK, map[string]any{"exams": exams})
}

// checkText checks that s has min to max characters and no control
// characters.
func checkText(field, s string, min, max int) error {
	n := utf8.RuneCountInString(s)
	if n < min || n > max {
		return fmt.Errorf("%s must be %d to %d characters", field, min, max)
	}
	if !utf8.ValidString(s) || strings.ContainsFunc(s, unicode.IsControl) {
		return fmt.Errorf("%s must be printable text", field)
	}
	return nil
}

// decodeJSON reads the request's JSON body into v, answering the error
// itself and returning false when it cannot.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		writeError(w, http.StatusUnsupportedMediaType, "invalid_request", "the body must be application/json")
		return false
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil && dec.More() {
		err = errors.New("more than one JSON value")
	}
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, "invalid_request", fmt.Sprintf("the body is larger than %d bytes", tooBig.Limit))
			return false
		}
		writeError(w, http.StatusBadRequest, "invalid_request", "malformed JSON body: "+err.Error())
		return false
	}
	return true
}

// errorBody is every error answer, in the OAuth error style.
type errorBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

func writeError(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, errorBody{Error: code, Description: desc})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// limitBody caps request bodies at maxBody.
func limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		}
		next.ServeHTTP(w, r)
	})
}

// statusRecorder remembers the status a handler answered.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

// WriteHeader records the first status and passes it on.
func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

// Write records an implicit 200 and passes b on.
func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// logRequests logs one line per request: method, path (never the query,
// which may carry secrets), status and duration.
func logRequests(log *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			rec := &statusRecorder{ResponseWriter: w}
			next.ServeHTTP(rec, r)
			log.InfoContext(r.Context(), "request", "method", r.Method, "path", r.URL.Path, "status", rec.status, "duration", time.Since(start).String())
		})
	}
}
