import HoldfastCore

extension CloseCodeCatalog {
    /// Los textos en español: el RFC 6455 §7.4 y el registro de la IANA en palabras sencillas, con
    /// lo que ve un desarrollador y lo que puede hacer con cada código.
    static func spanishText(for code: CloseCode) -> CloseCodeText {
        let number = code.rawValue
        switch number {
        case 1000:
            return CloseCodeText(
                title: "Cierre normal",
                summary: "la conexión cumplió su propósito y se cerró con normalidad",
                meaning: """
                    La conexión ha cumplido su propósito y se cierra de forma intencionada. Cualquiera de los \
                    dos extremos lo envía para terminar una conversación que ya ha acabado; es el código que \
                    debe llevar un cierre limpio y deliberado.
                    """,
                whenSeen: """
                    Cuando tu código o el del otro extremo llama a close() sin código (la mayoría de las \
                    bibliotecas y de los navegadores usan 1000 por defecto), cuando un cliente termina su \
                    trabajo y cuelga, o cuando el servidor da por concluida una sesión, por ejemplo después de \
                    que el usuario cierre sesión.
                    """,
                howToFix: """
                    No hay nada roto. Si el cierre no era de esperar, averigua qué lado lo inició y por qué; el \
                    motivo del cierre suele decirlo. No reconectes automáticamente: el otro extremo quería \
                    terminar la conexión.
                    """,
                action: "nada que arreglar; no reconectes salvo que tu aplicación quiera una sesión nueva")
        case 1001:
            return CloseCodeText(
                title: "El extremo se va",
                summary: "un extremo se va: un servidor que se apaga o se reinicia, un navegador que abandona la página",
                meaning: """
                    El extremo que lo envía se va y no continuará esta conexión: un servidor que se apaga o se \
                    reinicia, o un navegador que sale de la página o cierra la pestaña. No dice nada sobre lo \
                    que se envió; sencillamente, la conexión no tiene futuro.
                    """,
                whenSeen: """
                    Cuando un servidor se reinicia por un despliegue o por mantenimiento y cierra sus \
                    conexiones al apagarse; cuando el usuario cierra la pestaña o navega a otra página; cuando \
                    se cierra una aplicación cliente. Un servidor Holdfast envía 1001 a todos sus clientes al \
                    apagarse y espera a que terminen antes de salir, así que un reinicio se ve como 1001 y no \
                    como 1006.
                    """,
                howToFix: """
                    Reconecta automáticamente, con espera exponencial y jitter (un retardo aleatorio), y \
                    continúa donde lo dejaste (reenvía lo que no se confirmó). Respeta la indicación de \
                    reintento del motivo si el servidor la dio. En el servidor, envía 1001 al apagarte en lugar \
                    de cortar los sockets, y reparte los cierres en el tiempo para que los clientes no vuelvan \
                    todos a la vez.
                    """,
                action: "reconecta con espera exponencial y jitter, y continúa donde lo dejaste")
        case 1002:
            return CloseCodeText(
                title: "Error de protocolo",
                summary: "el otro extremo incumplió el protocolo WebSocket",
                meaning: """
                    El extremo cierra la conexión porque recibió algo que incumple el RFC 6455: una trama mal \
                    formada, bits reservados activos sin una extensión negociada, un código de operación \
                    desconocido, una trama de control fragmentada o demasiado larga, una trama sin enmascarar \
                    enviada por un cliente o una trama de cierre con un código no válido.
                    """,
                whenSeen: """
                    Cuando una implementación de WebSocket escrita a mano o con errores habla con otra \
                    estricta, cuando un proxy corrompe o reescribe las tramas, o cuando se escriben datos TCP \
                    en bruto en una conexión ya actualizada. El motivo del cierre suele nombrar la regla \
                    incumplida.
                    """,
                howToFix: """
                    Corrige al emisor: lee el motivo del cierre, captura el tráfico (por ejemplo, con \
                    Wireshark) y compara la trama problemática con el §5 del RFC 6455. Usa una biblioteca de \
                    WebSocket probada en vez de construir las tramas a mano y comprueba que los proxies \
                    intermedios admiten WebSocket. Reconectar falla de la misma manera.
                    """,
                action: "corrige la implementación que envió la trama incorrecta; reintentar falla igual")
        case 1003:
            return CloseCodeText(
                title: "Datos no admitidos",
                summary: "el extremo no acepta este tipo de datos, p. ej. binarios cuando solo entiende texto",
                meaning: """
                    El extremo recibió un tipo de datos que no puede aceptar: por ejemplo, un extremo que solo \
                    entiende texto recibió un mensaje binario, o al revés.
                    """,
                whenSeen: """
                    Cuando un cliente envía tramas binarias a un servidor que solo acepta texto (o texto a uno \
                    que solo acepta binario), a menudo tras un cambio de serialización, por usar el tipo de \
                    mensaje equivocado en la biblioteca cliente o por conectarse al punto de acceso \
                    equivocado.
                    """,
                howToFix: """
                    Envía el tipo de mensaje que espera el otro extremo (texto o binario), revisa el \
                    subprotocolo y la documentación de la API, y pon de acuerdo a ambos lados sobre la \
                    codificación. Reconectar sin cambiar lo que envías vuelve a fallar.
                    """,
                action: "envía el tipo de datos que acepta el otro extremo (texto o binario)")
        case 1004:
            return CloseCodeText(
                title: "Reservado",
                summary: "reservado por el RFC 6455; no tiene significado definido y nunca se envía",
                meaning: """
                    Reservado. El RFC 6455 aparta este código para un significado que podría definirse en el \
                    futuro; no se ha definido ninguno y no puede enviarse en una trama de cierre.
                    """,
                whenSeen: """
                    Prácticamente nunca. Si el otro extremo lo envía, un extremo conforme trata esa trama de \
                    cierre como un error de protocolo (1002).
                    """,
                howToFix: """
                    No envíes 1004. Si el otro extremo lo envía, corrígelo para que use 1000, 1001 o un código \
                    de aplicación (3000–4999).
                    """,
                action: "no lo envíes; usa un código definido")
        case 1005:
            return CloseCodeText(
                title: "Sin código de estado",
                summary: "la trama de cierre no traía código; se informa localmente y nunca se envía",
                meaning: """
                    Lo informa una API cuando la trama de cierre del otro extremo no traía código de estado \
                    (llegó con el cuerpo vacío). Es un marcador de «sin código», no un código que alguien \
                    envíe, y nunca puede aparecer en una trama de cierre.
                    """,
                whenSeen: """
                    Cuando el otro extremo llama a close() sin código en una biblioteca que entonces envía una \
                    trama de cierre vacía, o cuando un proxy cierra la conexión con una trama de cierre sin \
                    cuerpo. Aun así, el cierre fue limpio.
                    """,
                howToFix: """
                    Normalmente no hay nada mal. Si necesitas saber por qué cerró el otro extremo, haz que \
                    envíe un código y un motivo explícitos (1000, 1001 o un código de aplicación). Un cliente \
                    Holdfast lo trata como un cierre sin explicación y reconecta.
                    """,
                action: "pide al otro extremo un código explícito; reconectar es razonable")
        case 1006:
            return CloseCodeText(
                title: "Cierre anómalo",
                summary: "la conexión terminó sin trama de cierre; se informa localmente y nunca se envía",
                meaning: """
                    Lo informa una API cuando la conexión terminó sin ninguna trama de cierre: la conexión TCP \
                    se cayó, agotó su tiempo de espera o fue restablecida. Como 1005, es un marcador y nunca \
                    puede aparecer en una trama de cierre.
                    """,
                whenSeen: """
                    Cuando el proceso del servidor falla o lo matan, cuando se cae la red, el wifi o la \
                    conexión móvil, cuando un proxy o un balanceador de carga corta una conexión inactiva, \
                    cuando un servidor se reinicia sin un apagado ordenado, o cuando falla el handshake TLS o \
                    el de actualización en un navegador (que oculta el motivo).
                    """,
                howToFix: """
                    Reconecta con espera exponencial. Después busca la causa: los registros del servidor y los \
                    informes de fallos, los tiempos de inactividad de proxies y balanceadores (envía pings de \
                    keepalive más a menudo que el más corto de ellos) y los servidores que terminan sin cerrar \
                    sus conexiones: haz que envíen 1001 al apagarse.
                    """,
                action: "reconecta con espera exponencial; después averigua qué cortó la conexión")
        case 1007:
            return CloseCodeText(
                title: "Datos de trama no válidos",
                summary: "los datos de un mensaje no correspondían a su tipo, p. ej. un texto que no es UTF-8 válido",
                meaning: """
                    El extremo recibió, dentro de un mensaje, datos que no son coherentes con el tipo del \
                    mensaje; lo más habitual es un mensaje de texto que no es UTF-8 válido. Un motivo de cierre \
                    que no es UTF-8 válido recibe el mismo código.
                    """,
                whenSeen: """
                    Cuando un emisor mete datos binarios, o texto en otra codificación (Latin-1, UTF-16), en \
                    una trama de texto, o cuando parte en dos un carácter multibyte al fragmentar un mensaje a \
                    mano.
                    """,
                howToFix: """
                    Envía solo UTF-8 válido en los mensajes de texto y todo lo demás como binario. Si \
                    fragmentas texto tú mismo, córtalo en los límites entre caracteres. Reconectar falla de la \
                    misma manera.
                    """,
                action: "envía UTF-8 válido como texto y todo lo demás como binario")
        case 1008:
            return CloseCodeText(
                title: "Infracción de política",
                summary: "un mensaje incumplió la política del extremo",
                meaning: """
                    El extremo recibió un mensaje que incumple su política. Es un código genérico para cuando \
                    no encaja otro más concreto (como 1003 o 1009) o cuando el extremo prefiere no revelar los \
                    detalles de su política.
                    """,
                whenSeen: """
                    Cuando falta la autenticación o el token de autorización no es válido o ha caducado, \
                    cuando un cliente supera un límite de frecuencia o envía un mensaje que la aplicación \
                    prohíbe, o cuando falla una comprobación de origen o de subprotocolo tras la \
                    actualización.
                    """,
                howToFix: """
                    Lee el motivo del cierre y los registros del servidor para saber qué regla se incumplió; \
                    renueva las credenciales, baja el ritmo o cambia el mensaje problemático. Reconecta solo \
                    después de corregirlo: un simple reintento se rechaza igual.
                    """,
                action: "corrige lo que rechazó la política (credenciales, ritmo, contenido) y reconecta")
        case 1009:
            return CloseCodeText(
                title: "Mensaje demasiado grande",
                summary: "un mensaje o una trama superó el tamaño que acepta el receptor",
                meaning: """
                    El extremo recibió un mensaje demasiado grande para procesarlo: una trama o un mensaje \
                    completo superó su tamaño máximo configurado de trama o de mensaje. Holdfast rechaza una \
                    trama así desde su cabecera, antes de cargar su contenido en memoria, y nombra el límite en \
                    el motivo, p. ej. «message exceeds limit of 1048576 bytes».
                    """,
                whenSeen: """
                    Cuando una carga supera el tamaño máximo de trama o de mensaje del receptor: subidas \
                    grandes, ficheros o imágenes enviados en un solo mensaje, documentos JSON enormes, un lote \
                    que ha ido creciendo con el tiempo o un mensaje comprimido que al descomprimirse supera el \
                    límite.
                    """,
                howToFix: """
                    Envía menos en cada trama o en cada mensaje: fragmenta los mensajes grandes en tramas y \
                    divide las cargas grandes en trozos (un cliente Holdfast fragmenta hasta el límite de trama \
                    que anuncia un servidor Holdfast y rechaza sin enviarlo, con un error tipado, un mensaje que \
                    supere su límite de mensaje). O bien, si controlas el receptor, sube su límite \
                    (maxMessageSize, maxFrameSize). Reenviar el mismo mensaje vuelve a fallar.
                    """,
                action: "reconecta y envía trozos más pequeños (fragmenta o divide), o sube el límite del receptor")
        case 1010:
            return CloseCodeText(
                title: "Extensión obligatoria",
                summary: "el cliente necesitaba una extensión que el servidor no negoció",
                meaning: """
                    Lo envía un cliente que esperaba que el servidor negociara una o más extensiones (como \
                    permessage-deflate) y no las obtuvo en la respuesta del handshake; el motivo enumera las \
                    extensiones que necesita. Un servidor no lo envía: en su lugar, hace fallar el handshake.
                    """,
                whenSeen: """
                    Cuando un cliente exige compresión u otra extensión y el servidor, o un proxy que elimina \
                    la cabecera Sec-WebSocket-Extensions, no la acepta.
                    """,
                howToFix: """
                    Activa la extensión en el servidor, asegúrate de que ningún proxy elimine las cabeceras de \
                    extensiones, o deja que el cliente acepte la conexión sin ella. Reconectar sin cambios da \
                    el mismo resultado.
                    """,
                action: "activa la extensión en el servidor o deja de exigirla")
        case 1011:
            return CloseCodeText(
                title: "Error interno",
                summary: "el extremo encontró una condición inesperada que le impidió atender la petición",
                meaning: """
                    El extremo (normalmente el servidor) encontró una condición inesperada que le impidió \
                    completar la petición: el equivalente en WebSocket de un HTTP 500. El RFC 6455 lo define \
                    para servidores; el registro de la IANA (fe de erratas 3227) lo permite a cualquiera de \
                    los dos extremos.
                    """,
                whenSeen: """
                    Cuando el manejador del servidor lanza un error no controlado o se cae, cuando falla una \
                    base de datos u otra dependencia que necesita, o cuando se queda sin algún recurso.
                    """,
                howToFix: """
                    Reconecta con espera exponencial: el fallo puede ser pasajero. Si se repite, busca en los \
                    registros del servidor el error que hay detrás; el motivo suele ser vago a propósito. Si el \
                    mismo mensaje lo provoca cada vez, el servidor tiene un fallo que ese mensaje pone al \
                    descubierto.
                    """,
                action: "reconecta con espera exponencial; si se repite, corrige el error que muestran los registros del servidor")
        case 1012:
            return CloseCodeText(
                title: "Reinicio del servicio",
                summary: "el servicio se está reiniciando",
                meaning: """
                    El servidor se está reiniciando y por eso cierra la conexión (registro de la IANA). Los \
                    clientes deben reconectar, esperando un tiempo aleatorio antes del primer intento.
                    """,
                whenSeen: """
                    Durante un despliegue, una recarga de configuración o un reinicio escalonado, en \
                    servidores que lo indican con precisión en lugar de enviar 1001.
                    """,
                howToFix: """
                    Reconecta con espera exponencial y jitter (empieza con un retardo aleatorio de unos \
                    segundos para que los clientes no vuelvan todos a la vez) y continúa. El cliente no tiene \
                    nada mal.
                    """,
                action: "reconecta tras un retardo aleatorio, con espera exponencial")
        case 1013:
            return CloseCodeText(
                title: "Inténtalo más tarde",
                summary: "el servidor está sobrecargado o no puede atender por ahora; inténtalo más tarde",
                meaning: """
                    El servidor está sobrecargado o temporalmente no puede atender la conexión, y pide al \
                    cliente que lo intente más tarde (registro de la IANA). También puede enviarlo una \
                    pasarela cuyo servidor de origen está sobrecargado.
                    """,
                whenSeen: """
                    Cuando un servidor ha llegado a su límite de conexiones, está descartando carga, limita la \
                    creación de sesiones nuevas o espera a que vuelva una dependencia. Un servidor Holdfast \
                    también lo envía a un cliente que lee demasiado despacio: esperaba por escribir más de su \
                    presupuesto de salida (`outbound backlog exceeds limit of N bytes`), o no leyó nada durante \
                    el tiempo de inactividad mientras había escrituras pendientes (`nothing read for N s`). El \
                    motivo distingue a un lector lento de un servidor que se va, que envía 1001.
                    """,
                howToFix: """
                    Reconecta más tarde con espera exponencial y jitter, no de inmediato, porque eso aumenta la \
                    carga. En el servidor, añade capacidad o sube los límites de conexiones si ocurre a menudo. \
                    Un lector lento debe leer al ritmo al que llegan los mensajes (procesándolos fuera de la \
                    tarea que lee) y reanudar desde donde estaba (los canales se recuperan por offset); o el \
                    operador sube el presupuesto (`--max-backlog`).
                    """,
                action: "deja pasar un tiempo y reconecta con espera exponencial y jitter")
        case 1014:
            return CloseCodeText(
                title: "Puerta de enlace incorrecta",
                summary: "una pasarela o un proxy recibió una respuesta no válida del servidor de origen",
                meaning: """
                    El servidor actuaba como pasarela o proxy y recibió una respuesta no válida del servidor \
                    de origen: el equivalente en WebSocket de un HTTP 502.
                    """,
                whenSeen: """
                    Cuando un proxy inverso, una pasarela de API o un balanceador de carga situado entre el \
                    cliente y la aplicación no consigue llegar al servidor WebSocket de origen, o cuando este \
                    falla en su lado de la conexión.
                    """,
                howToFix: """
                    Reconecta con espera exponencial; el servidor de origen puede volver. Si persiste, revisa \
                    el estado del servidor de origen y la configuración del proxy (la dirección del origen, sus \
                    ajustes de actualización a WebSocket, sus tiempos de espera).
                    """,
                action: "reconecta con espera exponencial; si persiste, revisa el servidor de origen detrás del proxy")
        case 1015:
            return CloseCodeText(
                title: "Fallo del handshake TLS",
                summary: "falló el handshake TLS; se informa localmente y nunca se envía",
                meaning: """
                    Lo informa una API cuando la conexión se cerró porque falló el handshake TLS, por ejemplo \
                    porque no se pudo verificar el certificado del servidor. Como 1005 y 1006, nunca puede \
                    aparecer en una trama de cierre.
                    """,
                whenSeen: """
                    Al conectar con wss:// a un servidor cuyo certificado ha caducado, es autofirmado o es de \
                    otro nombre de host, al que le falta un certificado intermedio o que no comparte ninguna \
                    versión ni cifrado TLS con el cliente; o a través de un proxy que intercepta TLS.
                    """,
                howToFix: """
                    Corrige la configuración TLS: renueva o corrige el certificado y su cadena, conecta con el \
                    nombre de host que figura en el certificado, confía en la autoridad de certificación \
                    correcta en el cliente y revisa las versiones de TLS en ambos lados. Reconectar sin cambios \
                    falla igual.
                    """,
                action: "corrige el certificado o la configuración TLS; reintentar falla igual")
        case 1016...2999:
            return CloseCodeText(
                title: "Sin asignar",
                summary: "no está asignado en el registro de la IANA; no puede enviarse",
                meaning: """
                    El código \(number) está en el rango 1000–2999, que el RFC 6455 reserva para el protocolo \
                    y sus extensiones, pero no tiene ningún significado asignado. No puede enviarse; un extremo \
                    que lo recibe hace fallar la conexión con 1002.
                    """,
                whenSeen: """
                    Solo cuando el otro extremo se inventa un código en el rango del protocolo (un error), o \
                    cuando una especificación más reciente lo asigna y tus herramientas son anteriores a ella.
                    """,
                howToFix: """
                    Usa 1000 o 1001 para los cierres corrientes y 3000–4999 para motivos propios. Si el otro \
                    extremo lo envía, corrígelo.
                    """,
                action: "usa un código definido o uno de aplicación (4000–4999)")
        case 3000...3999:
            return CloseCodeText(
                title: "Registrado",
                summary: "un código registrado en la IANA por una biblioteca, un framework o una aplicación",
                meaning: """
                    El código \(number) está en el rango 3000–3999, que la IANA registra para bibliotecas, \
                    frameworks y aplicaciones por orden de llegada. Su significado lo define quien lo \
                    registró, no el RFC 6455 (por ejemplo, 3000 está registrado como Unauthorized, 3003 como \
                    Forbidden y 3008 como Timeout).
                    """,
                whenSeen: """
                    Cuando el otro extremo usa una biblioteca o un framework que define sus propios códigos de \
                    cierre, o una aplicación que registró el \(number) para comunicar algo concreto a sus \
                    clientes.
                    """,
                howToFix: """
                    Busca el \(number) en el registro «WebSocket Close Code Number» de la IANA y en la \
                    documentación del framework o del servicio con el que hablas. Holdfast no reconecta tras él \
                    por defecto; configura ReconnectPolicy.shouldRetry si ese código significa «vuelve».
                    """,
                action: "consulta su significado registrado; reconecta solo si así lo indica")
        case 4001:
            return CloseCodeText(
                title: "Página abandonada",
                summary: "el cliente de navegador de Holdfast cerró porque su página se ocultó o se descargó",
                meaning: """
                    El código 4001 es de uso privado y Holdfast le da un significado: holdfast.js cierra su \
                    conexión con él, motivo "page left", cuando la página dispara pagehide: el usuario \
                    navegó a otra parte, cerró la pestaña o la página entró en la caché de avance y retroceso. \
                    Un script solo puede enviar 1000 o 3000–4999, así que no puede enviar 1001 él mismo.
                    """,
                whenSeen: """
                    En un servidor, cada vez que se abandona una página que usa holdfast.js. Un servidor \
                    Holdfast las cuenta como salidas de página, aparte de los fallos como 1006.
                    """,
                howToFix: """
                    Nada que corregir: la página terminó su conexión a propósito y enseguida, en vez de \
                    dejarla abierta en la caché de avance y retroceso o de cortarla más tarde. Cuando la \
                    página vuelve a mostrarse (pageshow), holdfast.js reconecta y continúa por sí solo.
                    """,
                action: "nada que corregir; la página reconecta sola si vuelve a mostrarse")
        case 4000...4999:
            return CloseCodeText(
                title: "Uso privado",
                summary: "un código privado cuyo significado acuerdan los dos extremos",
                meaning: """
                    El código \(number) está en el rango 4000–4999, reservado para uso privado: no puede \
                    registrarse y significa lo que acuerde la aplicación en ambos extremos.
                    """,
                whenSeen: """
                    Cuando la aplicación del servidor o del cliente cierra con un código propio; es habitual \
                    para fallos de autenticación, sesiones expulsadas o reglas de negocio.
                    """,
                howToFix: """
                    Lee el motivo del cierre y la documentación o el código fuente de la aplicación que lo \
                    envió. Holdfast no reconecta tras él por defecto; decide código a código con \
                    ReconnectPolicy.shouldRetry.
                    """,
                action: "averigua qué significa para la aplicación; reconecta solo si así lo indica")
        default:
            return CloseCodeText(
                title: "No válido",
                summary: "fuera del espacio de códigos de cierre 1000–4999; nunca es válido",
                meaning: """
                    El código \(number) está fuera de 1000–4999, los únicos números que el §7.4.2 del RFC 6455 \
                    admite como códigos de cierre (0–999 no se usan nunca). No puede enviarse, y recibirlo es \
                    un error de protocolo (1002).
                    """,
                whenSeen: """
                    Cuando algo presenta un código de estado HTTP o un número de error como si fuera un código \
                    de cierre, o cuando el otro extremo envía una trama de cierre corrupta.
                    """,
                howToFix: """
                    Comprueba de dónde sale el número. Los códigos de cierre van de 1000 a 4999; usa \
                    4000–4999 para motivos propios de tu aplicación.
                    """,
                action: "usa un código de cierre entre 1000 y 4999")
        }
    }
}
