//! The admin UI's words in Portuguese and English. Phrases are written in English in the code
//! and templates (`tr.t("Domains")`) and translated here; a phrase without a translation shows
//! in English rather than failing.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tr {
    pt: bool,
}

impl Tr {
    pub fn pt() -> Tr {
        Tr { pt: true }
    }
    pub fn en() -> Tr {
        Tr { pt: false }
    }
    pub fn lang(&self) -> &'static str {
        if self.pt { "pt" } else { "en" }
    }

    /// The sign-in page's refusal while locked out: how long to wait, in words.
    pub fn wait_to_sign_in(&self, secs: u64) -> String {
        let minutes = secs.div_ceil(60);
        match (self.pt, minutes) {
            (false, 1) => format!("Too many failed attempts: try again in {secs} seconds."),
            (false, m) => format!("Too many failed attempts: try again in {m} minutes ({secs} seconds)."),
            (true, 1) => format!("Demasiadas tentativas falhadas: tente de novo dentro de {secs} segundos."),
            (true, m) => {
                format!("Demasiadas tentativas falhadas: tente de novo dentro de {m} minutos ({secs} segundos).")
            }
        }
    }

    pub fn t<'a>(&self, en: &'a str) -> &'a str {
        if !self.pt {
            return en;
        }
        match en {
            "Dashboard" => "Painel",
            "Secondaries" => "Secundários",
            "Secondary" => "Secundário",
            "Published" => "Publicado",
            "Its serial" => "O seu serial",
            "Last query" => "Última consulta",
            "Last transfer" => "Última transferência",
            "in sync" => "sincronizado",
            "BEHIND" => "ATRASADO",
            "catching up" => "a atualizar",
            "not seen since nicbox started" => "sem contacto desde o arranque",
            "Domains" => "Domínios",
            "Registrars" => "Registrars",
            "Queues" => "Filas",
            "Directory" => "Diretório",
            "Users" => "Utilizadores",
            "Audit log" => "Registo de auditoria",
            "Lab clock" => "Relógio do laboratório",
            "Sign out" => "Sair",
            "Sign in" => "Entrar",
            "User name" => "Utilizador",
            "Password" => "Palavra-passe",
            "Wrong user name or password." => "Utilizador ou palavra-passe errados.",
            "The disk holding the database is full: changes (and new sign-ins) are paused until space is freed. Reads work; writing resumes by itself." => {
                "O disco da base de dados está cheio: as alterações (e novas entradas) estão suspensas até haver espaço. As consultas funcionam; a escrita retoma sozinha."
            }
            "Registered domains" => "Domínios registados",
            "Registrations today" => "Registos hoje",
            "Registrations this month" => "Registos este mês",
            "Registrations per day, last 90 days" => "Registos por dia, últimos 90 dias",
            "By zone and status" => "Por zona e estado",
            "Zone" => "Zona",
            "Status" => "Estado",
            "Registrar" => "Registrar",
            "Count" => "Número",
            "Registrations in review" => "Registos em análise",
            "Registrant changes in review" => "Mudanças de titular em análise",
            "Domains not delegated" => "Domínios não delegados",
            "WHOIS queries" => "Consultas WHOIS",
            "Suspended origins" => "Origens suspensas",
            "Search" => "Pesquisar",
            "Name (U-label or A-label, or its start)" => "Nome (U-label ou A-label, ou o seu início)",
            "any" => "qualquer",
            "Next page" => "Página seguinte",
            "No domains match." => "Nenhum domínio corresponde.",
            "Expires" => "Expira",
            "Created" => "Criado",
            "Updated" => "Atualizado",
            "Registrant" => "Titular",
            "Admin" => "Administrativo",
            "Tech" => "Técnico",
            "Billing" => "Faturação",
            "Nameservers" => "Servidores de nomes",
            "History" => "Histórico",
            "When" => "Quando",
            "Who" => "Quem",
            "What" => "O quê",
            "Changes" => "Alterações",
            "Amount" => "Valor",
            "Actions" => "Ações",
            "Registry lock" => "Bloqueio do registo",
            "Lock" => "Bloquear",
            "Unlock" => "Desbloquear",
            "Suspend (serverHold)" => "Suspender (serverHold)",
            "Lift suspension" => "Levantar suspensão",
            "Delete" => "Apagar",
            "Restore" => "Restaurar",
            "Accept registration" => "Aceitar registo",
            "Refuse registration" => "Recusar registo",
            "Accept registrant change" => "Aceitar mudança de titular",
            "Refuse registrant change" => "Recusar mudança de titular",
            "Supporting document reference" => "Referência do documento comprovativo",
            "Note" => "Nota",
            "Done." => "Feito.",
            "Balance" => "Saldo",
            "Name" => "Nome",
            "Email" => "Email",
            "Enabled" => "Ativo",
            "Create registrar" => "Criar registrar",
            "New API key (shown once):" => "Nova chave da API (mostrada uma vez):",
            "Rotate API key" => "Renovar chave da API",
            "New EPP password (shown once):" => "Nova palavra-passe EPP (mostrada uma vez):",
            "EPP password" => "Palavra-passe EPP",
            "set" => "definida",
            "not set" => "não definida",
            "Pinned client certificates (SHA-256)" => "Certificados de cliente fixados (SHA-256)",
            "Unpin" => "Remover",
            "none: this registrar cannot log in to EPP" => "nenhum: este registrar não pode entrar no EPP",
            "SHA-256 fingerprint or PEM certificate" => "Impressão digital SHA-256 ou certificado PEM",
            "Pin" => "Fixar",
            "New EPP password" => "Nova palavra-passe EPP",
            "EPP sessions" => "Sessões EPP",
            "Since" => "Desde",
            "Commands" => "Comandos",
            "Certificate" => "Certificado",
            "no session open" => "nenhuma sessão aberta",
            "Top up" => "Carregar saldo",
            "Amount in cents" => "Valor em cêntimos",
            "Reason" => "Motivo",
            "Ledger" => "Movimentos",
            "Prices" => "Preços",
            "Save" => "Guardar",
            "Suspensions" => "Suspensões",
            "Origin" => "Origem",
            "Until" => "Até",
            "Level" => "Nível",
            "Lift" => "Levantar",
            "Query log" => "Registo de consultas",
            "Query" => "Consulta",
            "Outcome" => "Resultado",
            "Disclosure requests" => "Pedidos de divulgação",
            "Requester" => "Requerente",
            "Legal basis" => "Base legal",
            "Case reference" => "Referência do processo",
            "Record request" => "Registar pedido",
            "Grant and disclose" => "Deferir e divulgar",
            "Refuse" => "Indeferir",
            "Disclosed record" => "Registo divulgado",
            "Role" => "Função",
            "Create user" => "Criar utilizador",
            "New password (shown once):" => "Nova palavra-passe (mostrada uma vez):",
            "Disable" => "Desativar",
            "Enable" => "Ativar",
            "Registry time" => "Hora do registo",
            "Move forward" => "Avançar",
            "days" => "dias",
            "The registry runs on the system clock." => "O registo usa o relógio do sistema.",
            "Back" => "Voltar",
            "Empty." => "Vazio.",
            "The form was refused: its security token is missing or stale. Reload the page and try again." => {
                "O formulário foi recusado: falta o código de segurança ou expirou. Recarregue a página e tente de novo."
            }
            "Your role (support) may not change this." => "A sua função (suporte) não permite alterar isto.",
            "Not found." => "Não encontrado.",
            "Language" => "Idioma",
            "Undisclosed data (registry only)" => "Dados não divulgados (só para o registo)",
            "Fiscal id" => "NIF",
            "Phone" => "Telefone",
            "Address" => "Morada",
            "State" => "Situação",
            "Pending" => "Pendente",
            "Granted" => "Deferido",
            "Refused" => "Indeferido",
            "Filter" => "Filtrar",
            "Last" => "Últimas",
            "Zones" => "Zonas",
            "Now" => "Agora",
            "All publications" => "Todas as publicações",
            "No zone is configured." => "Nenhuma zona configurada.",
            "Last publication" => "Última publicação",
            "Serial" => "Série",
            "Delegations" => "Delegações",
            "delegations" => "delegações",
            "added" => "acrescentadas",
            "removed" => "removidas",
            "changed" => "alteradas",
            "unexplained" => "sem explicação",
            "After publishing" => "Depois de publicar",
            "Not published yet." => "Ainda não publicada.",
            "Last attempt" => "Última tentativa",
            "kept" => "mantida",
            "Removed, e.g." => "Removidas, p. ex.",
            "Unexplained, e.g." => "Sem explicação, p. ex.",
            "Publish now" => "Publicar agora",
            "Why publish over the guard's refusal" => "Porque publicar apesar da recusa da salvaguarda",
            "Publish anyway" => "Publicar mesmo assim",
            "Publications of" => "Publicações de",
            "published" => "publicada",
            "unchanged: nothing to publish" => "sem alterações: nada a publicar",
            "REFUSED: differences the journal does not explain; the previous zone stays published" => {
                "RECUSADA: diferenças que o diário não explica; a zona anterior continua publicada"
            }
            "REFUSED: too many removals; the previous zone stays published" => {
                "RECUSADA: demasiadas remoções; a zona anterior continua publicada"
            }
            "published anyway (forced by an admin)" => "publicada mesmo assim (forçada por um administrador)",
            "FAILED: the previous zone stays published" => "FALHOU: a zona anterior continua publicada",
            "serial" => "série",
            "Publishing anyway needs a reason (1 to 500 characters)." => {
                "Publicar mesmo assim exige um motivo (1 a 500 caracteres)."
            }
            "Nameserver check" => "Verificação dos servidores de nomes",
            "Mode" => "Modo",
            "not checked: delegated as registered" => "sem verificação: delegado tal como registado",
            "checked and reported: delegated whatever the outcome" => {
                "verificado e comunicado: delegado seja qual for o resultado"
            }
            "delegated only once its nameservers pass" => "delegado só depois de os servidores de nomes passarem",
            "Last check" => "Última verificação",
            "checks of these nameservers" => "verificações destes servidores",
            "Result" => "Resultado",
            "passed" => "passou",
            "failed" => "falhou",
            "of an earlier set of nameservers" => "de um conjunto anterior de servidores",
            "Failing since" => "Em falha desde",
            "the registrar was notified" => "o registrar foi notificado",
            "Last passed" => "Últimos aprovados",
            "Not checked yet." => "Ainda não verificado.",
            "Next check due" => "Próxima verificação",
            "none queued" => "nenhuma agendada",
            "the checker runs only with a [zone] section in the configuration" => {
                "a verificação só corre com uma secção [zone] na configuração"
            }
            "Host" => "Servidor",
            "IP address" => "Endereço IP",
            "Transport" => "Transporte",
            "Check again" => "Verificar de novo",
            "Nameserver check queued: it runs after the checks already due; reload the page to see it." => {
                "Verificação agendada: corre depois das que já estão em espera; recarregue a página para a ver."
            }
            _ => en,
        }
    }
}
