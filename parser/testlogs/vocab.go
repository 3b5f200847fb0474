package testlogs

// Value pools, each ordered by popularity (pick draws towards the front).

var userAgents = []string{
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
	"kube-probe/1.31",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
	"Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.39 Mobile Safari/537.36",
	"Prometheus/2.55.1",
	"Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0",
	"okhttp/4.12.0",
	"Go-http-client/2.0",
	"python-requests/2.32.3",
	"curl/8.5.0",
	"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
	"Apache-HttpClient/5.3.1 (Java/21.0.5)",
	"grpc-go/1.67.1",
}

var referers = []string{
	"-", "https://shop.example.com/", "https://shop.example.com/cart", "https://www.google.com/",
	"https://shop.example.com/products/", "https://shop.example.com/checkout", "https://m.facebook.com/",
}

var words = []string{
	"the", "order", "cart", "user", "payment", "request", "item", "product", "session", "token",
	"cache", "query", "invoice", "shipment", "account", "price", "stock", "review", "coupon", "address",
	"timeout", "retry", "backend", "upstream", "search", "index", "batch", "worker", "queue", "event",
	"customer", "refund", "currency", "warehouse", "delivery", "profile", "billing", "catalog", "tax", "discount",
	"red", "shoes", "jacket", "blue", "wireless", "headphones", "organic", "coffee", "desk", "lamp",
	"kitchen", "running", "winter", "sale", "gift", "summer", "leather", "bag", "vintage", "phone",
}

// unicode words: what customers type and products are called.
var intlWords = []string{
	"Zoë", "José", "München", "Straße", "café", "東京", "Ørsted", "naïve", "Kraków", "São Paulo",
	"🎁 Geschenkbox", "crème brûlée", "Ελλάδα", "Привет", "señor", "日本語", "İstanbul", "😀",
}

var httpMethods = []string{"GET", "GET", "GET", "POST", "GET", "PUT", "GET", "DELETE", "PATCH", "HEAD", "OPTIONS"}

var statuses = []int{200, 200, 200, 200, 200, 304, 201, 204, 302, 404, 400, 401, 403, 429, 500, 502, 503, 504}

var currencies = []string{"EUR", "USD", "GBP", "CHF", "SEK", "PLN", "JPY"}

var services = []string{"catalog", "cart", "checkout", "payments", "users", "search", "shipping", "reviews", "recommendations", "inventory"}

var goErrors = []string{
	`context deadline exceeded`,
	`dial tcp 10.96.12.7:5432: connect: connection refused`,
	`rpc error: code = Unavailable desc = connection error: desc = "transport: Error while dialing: dial tcp 10.96.3.4:9090: connect: connection refused"`,
	`pq: duplicate key value violates unique constraint "orders_pkey"`,
	`card_declined: insufficient funds`,
	`read tcp 10.244.1.17:43122->10.96.0.10:53: i/o timeout`,
	`redis: connection pool timeout`,
	`json: cannot unmarshal string into Go struct field Order.items.quantity of type int`,
	`http2: server sent GOAWAY and closed the connection; LastStreamID=1999, ErrCode=NO_ERROR, debug=""`,
	`x509: certificate has expired or is not yet valid: current time 2026-11-25T10:00:00Z is after 2026-11-24T23:59:59Z`,
}

var javaClasses = []string{
	"c.e.shop.cart.web.CartController", "c.e.shop.cart.service.CartService", "o.s.web.servlet.DispatcherServlet",
	"c.e.shop.cart.repo.CartRepository", "c.z.hikari.pool.HikariPool", "o.h.engine.jdbc.spi.SqlExceptionHelper",
	"c.e.shop.cart.client.PricingClient", "o.s.k.listener.KafkaMessageListenerContainer", "c.e.shop.cart.events.CartEventPublisher",
	"o.a.c.c.C.[.[.[/].[dispatcherServlet]", "o.s.b.a.health.HealthEndpointSupport",
}

var javaThreads = []string{"nio-8080-exec-1", "nio-8080-exec-2", "nio-8080-exec-3", "nio-8080-exec-4", "nio-8080-exec-5",
	"nio-8080-exec-6", "nio-8080-exec-7", "nio-8080-exec-8", "ntainer#0-0-C-1", "scheduling-1", "HikariPool-1 housekeeper"}

var javaExceptions = []struct{ class, msg string }{
	{"java.sql.SQLTransientConnectionException", "HikariPool-1 - Connection is not available, request timed out after 30000ms (total=10, active=10, idle=0, waiting=%d)"},
	{"org.springframework.web.client.ResourceAccessException", "I/O error on GET request for \"http://pricing.shop.svc.cluster.local:8080/api/v1/prices/%d\": Read timed out"},
	{"java.lang.IllegalStateException", "Cart %d is already checked out"},
	{"java.lang.NullPointerException", "Cannot invoke \"com.example.shop.cart.model.Item.getQuantity()\" because \"item\" is null (item index %d)"},
	{"org.springframework.dao.DataIntegrityViolationException", "could not execute statement [ERROR: duplicate key value violates unique constraint \"cart_items_pkey\"\n  Detail: Key (cart_id, product_id)=(%d, 18342) already exists.]"},
}

// javaFrames is a stack from the application down to the servlet container;
// a trace takes a run of it.
var javaFrames = []string{
	"com.zaxxer.hikari.pool.HikariPool.createTimeoutException(HikariPool.java:686)",
	"com.zaxxer.hikari.pool.HikariPool.getConnection(HikariPool.java:179)",
	"com.zaxxer.hikari.pool.HikariPool.getConnection(HikariPool.java:144)",
	"com.zaxxer.hikari.HikariDataSource.getConnection(HikariDataSource.java:127)",
	"org.hibernate.engine.jdbc.connections.internal.DatasourceConnectionProviderImpl.getConnection(DatasourceConnectionProviderImpl.java:122)",
	"org.hibernate.internal.NonContextualJdbcConnectionAccess.obtainConnection(NonContextualJdbcConnectionAccess.java:46)",
	"org.hibernate.resource.jdbc.internal.LogicalConnectionManagedImpl.acquireConnectionIfNeeded(LogicalConnectionManagedImpl.java:113)",
	"org.hibernate.resource.jdbc.internal.LogicalConnectionManagedImpl.getPhysicalConnection(LogicalConnectionManagedImpl.java:143)",
	"org.hibernate.engine.jdbc.internal.StatementPreparerImpl.prepareStatement(StatementPreparerImpl.java:174)",
	"org.hibernate.sql.exec.internal.JdbcSelectExecutorStandardImpl.executeQuery(JdbcSelectExecutorStandardImpl.java:198)",
	"org.springframework.data.jpa.repository.support.SimpleJpaRepository.findById(SimpleJpaRepository.java:314)",
	"java.base/jdk.internal.reflect.DirectMethodHandleAccessor.invoke(DirectMethodHandleAccessor.java:103)",
	"java.base/java.lang.reflect.Method.invoke(Method.java:580)",
	"org.springframework.aop.support.AopUtils.invokeJoinpointUsingReflection(AopUtils.java:355)",
	"org.springframework.aop.framework.ReflectiveMethodInvocation.proceed(ReflectiveMethodInvocation.java:184)",
	"org.springframework.transaction.interceptor.TransactionInterceptor.invoke(TransactionInterceptor.java:119)",
	"org.springframework.aop.framework.JdkDynamicAopProxy.invoke(JdkDynamicAopProxy.java:223)",
	"jdk.proxy2/jdk.proxy2.$Proxy142.findById(Unknown Source)",
	"com.example.shop.cart.service.CartService.addItem(CartService.java:87)",
	"com.example.shop.cart.web.CartController.addItem(CartController.java:54)",
	"org.springframework.web.method.support.InvocableHandlerMethod.doInvoke(InvocableHandlerMethod.java:255)",
	"org.springframework.web.method.support.InvocableHandlerMethod.invokeForRequest(InvocableHandlerMethod.java:188)",
	"org.springframework.web.servlet.mvc.method.annotation.ServletInvocableHandlerMethod.invokeAndHandle(ServletInvocableHandlerMethod.java:118)",
	"org.springframework.web.servlet.mvc.method.annotation.RequestMappingHandlerAdapter.invokeHandlerMethod(RequestMappingHandlerAdapter.java:986)",
	"org.springframework.web.servlet.DispatcherServlet.doDispatch(DispatcherServlet.java:1089)",
	"org.springframework.web.servlet.DispatcherServlet.doService(DispatcherServlet.java:979)",
	"org.springframework.web.servlet.FrameworkServlet.processRequest(FrameworkServlet.java:1014)",
	"org.springframework.web.servlet.FrameworkServlet.doPost(FrameworkServlet.java:914)",
	"jakarta.servlet.http.HttpServlet.service(HttpServlet.java:590)",
	"org.apache.catalina.core.ApplicationFilterChain.internalDoFilter(ApplicationFilterChain.java:195)",
	"org.apache.catalina.core.ApplicationFilterChain.doFilter(ApplicationFilterChain.java:140)",
	"org.springframework.web.filter.RequestContextFilter.doFilterInternal(RequestContextFilter.java:100)",
	"org.springframework.web.filter.OncePerRequestFilter.doFilter(OncePerRequestFilter.java:116)",
	"org.apache.catalina.core.StandardWrapperValve.invoke(StandardWrapperValve.java:167)",
	"org.apache.catalina.core.StandardContextValve.invoke(StandardContextValve.java:90)",
	"org.apache.catalina.core.StandardHostValve.invoke(StandardHostValve.java:115)",
	"org.apache.catalina.valves.ErrorReportValve.invoke(ErrorReportValve.java:93)",
	"org.apache.catalina.core.StandardEngineValve.invoke(StandardEngineValve.java:74)",
	"org.apache.catalina.connector.CoyoteAdapter.service(CoyoteAdapter.java:344)",
	"org.apache.coyote.http11.Http11Processor.service(Http11Processor.java:391)",
	"org.apache.coyote.AbstractProcessorLight.process(AbstractProcessorLight.java:63)",
	"org.apache.coyote.AbstractProtocol$ConnectionHandler.process(AbstractProtocol.java:896)",
	"org.apache.tomcat.util.net.NioEndpoint$SocketProcessor.doRun(NioEndpoint.java:1744)",
	"org.apache.tomcat.util.net.SocketProcessorBase.run(SocketProcessorBase.java:52)",
	"org.apache.tomcat.util.threads.ThreadPoolExecutor.runWorker(ThreadPoolExecutor.java:1191)",
	"org.apache.tomcat.util.threads.ThreadPoolExecutor$Worker.run(ThreadPoolExecutor.java:659)",
	"org.apache.tomcat.util.threads.TaskThread$WrappingRunnable.run(TaskThread.java:63)",
	"java.base/java.lang.Thread.run(Thread.java:1583)",
}

var goFrames = []struct{ fn, file string }{
	{"github.com/example/payments/internal/ledger.(*Ledger).Post(0x0, {0xc0001a2000, 0x24})", "/src/internal/ledger/ledger.go:142 +0x3a"},
	{"github.com/example/payments/internal/api.(*Server).capture(0xc000132480, {0x1a3b2c0, 0xc0004f6000}, 0xc0002d8b40)", "/src/internal/api/capture.go:88 +0x1f4"},
	{"net/http.HandlerFunc.ServeHTTP(0xc000290ab0?, {0x1a3b2c0?, 0xc0004f6000?}, 0x0?)", "/usr/local/go/src/net/http/server.go:2220 +0x29"},
	{"github.com/example/payments/internal/api.(*Server).withRequestID.func1({0x1a3b2c0, 0xc0004f6000}, 0xc0002d8a00)", "/src/internal/api/middleware.go:41 +0x1b2"},
	{"net/http.serverHandler.ServeHTTP({0xc0001ea1e0?}, {0x1a3b2c0?, 0xc0004f6000?}, 0x6?)", "/usr/local/go/src/net/http/server.go:3210 +0x8e"},
	{"net/http.(*conn).serve(0xc0003b2000, {0x1a3d9a8, 0xc000290900})", "/usr/local/go/src/net/http/server.go:2092 +0x5d0"},
	{"created by net/http.(*Server).Serve in goroutine 1", "/usr/local/go/src/net/http/server.go:3360 +0x485"},
}

var pyFrames = []struct{ file, fn, code string }{
	{"/usr/local/lib/python3.12/site-packages/django/core/handlers/exception.py\", line 55", "inner", "response = get_response(request)"},
	{"/usr/local/lib/python3.12/site-packages/django/core/handlers/base.py\", line 197", "_get_response", "response = wrapped_callback(request, *callback_args, **callback_kwargs)"},
	{"/usr/local/lib/python3.12/site-packages/django/views/decorators/csrf.py\", line 65", "_view_wrapper", "return view_func(request, *args, **kwargs)"},
	{"/app/recommender/views.py\", line 48", "recommend", "items = model.rank(user_features[request.user.id], limit=limit)"},
	{"/app/recommender/model.py\", line 112", "rank", "scores = self._score(features, self.embeddings[segment])"},
	{"/app/recommender/features.py\", line 73", "__getitem__", "return self._cache[key]"},
}

var pyErrors = []string{
	"KeyError: 'user_%d'",
	"ValueError: shapes (%d,64) and (128,) not aligned: 64 (dim 1) != 128 (dim 0)",
	"redis.exceptions.ConnectionError: Error 111 connecting to redis-master.ml.svc.cluster.local:6379. Connection refused. (attempt %d)",
	"django.db.utils.OperationalError: could not translate host name \"postgres-%d.ml.svc\" to address: Temporary failure in name resolution",
}

var klogFiles = []string{"controller.go", "reconciler.go", "sync.go", "reflector.go", "leaderelection.go", "issuer.go", "secret.go", "trigger.go"}

var kinds = []string{"Certificate", "CertificateRequest", "Order", "Challenge", "Secret", "Issuer", "Ingress"}
