//! 受注の状態遷移。許されない遷移は `TransitionError` として返す。

use std::fmt;

/// 受注の状態。
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderStatus {
    /// 受付済み（未入金）
    Received,
    /// 入金確認済み
    Paid,
    /// 出荷済み
    Shipped,
    /// キャンセル
    Cancelled,
}

/// 受注に対する操作。
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    ConfirmPayment { amount: u64 },
    Ship { tracking_no: String },
    Cancel { reason: String },
}

#[derive(Debug, PartialEq)]
pub enum TransitionError {
    /// 現在の状態ではその操作ができない
    NotAllowed { from: OrderStatus, command: &'static str },
    /// 入金額が請求額と一致しない
    AmountMismatch { expected: u64, actual: u64 },
}

impl fmt::Display for TransitionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotAllowed { from, command } => write!(f, "状態「{}」では {command} を実行できません", from.label()),
            Self::AmountMismatch { expected, actual } => write!(f, "入金額が不一致です（請求 {expected} / 入金 {actual}）"),
        }
    }
}

impl std::error::Error for TransitionError {}

/// 画面表示用のラベルを持つ型。
pub trait Labeled {
    fn label(&self) -> &'static str;
}

impl Labeled for OrderStatus {
    fn label(&self) -> &'static str {
        match self {
            OrderStatus::Received => "受付済み",
            OrderStatus::Paid => "入金済み",
            OrderStatus::Shipped => "出荷済み",
            OrderStatus::Cancelled => "キャンセル",
        }
    }
}

impl Command {
    fn name(&self) -> &'static str {
        match self {
            Command::ConfirmPayment { .. } => "入金確認",
            Command::Ship { .. } => "出荷",
            Command::Cancel { .. } => "キャンセル",
        }
    }
}

#[derive(Debug)]
pub struct Order {
    pub id: u64,
    pub total: u64,
    status: OrderStatus,
}

impl Order {
    pub fn new(id: u64, total: u64) -> Self {
        Self { id, total, status: OrderStatus::Received }
    }

    /// 操作を適用する。成功したら新しい状態を返す。
    pub fn apply(&mut self, cmd: &Command) -> Result<OrderStatus, TransitionError> {
        use OrderStatus::*;
        let next = match (self.status, cmd) {
            (Received, Command::ConfirmPayment { amount }) => {
                if *amount != self.total {
                    return Err(TransitionError::AmountMismatch { expected: self.total, actual: *amount });
                }
                Paid
            }
            (Paid, Command::Ship { .. }) => Shipped,
            // 出荷前であればキャンセルできる
            (Received | Paid, Command::Cancel { .. }) => Cancelled,
            (from, c) => return Err(TransitionError::NotAllowed { from, command: c.name() }),
        };
        self.status = next;
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn happy_path() {
        let mut o = Order::new(1, 3980);
        o.apply(&Command::ConfirmPayment { amount: 3980 }).unwrap();
        let next = o.apply(&Command::Ship { tracking_no: "TEST-0001".into() });
        assert_eq!(next, Ok(OrderStatus::Shipped));
        let err = o.apply(&Command::ConfirmPayment { amount: 3980 }).unwrap_err();
        assert!(matches!(err, TransitionError::NotAllowed { from: OrderStatus::Shipped, .. }));
    }

    #[test]
    fn cannot_cancel_after_shipping() {
        let mut o = Order::new(2, 500);
        o.apply(&Command::ConfirmPayment { amount: 500 }).unwrap();
        o.apply(&Command::Ship { tracking_no: "TEST-0002".into() }).unwrap();
        let err = o.apply(&Command::Cancel { reason: "顧客都合".into() }).unwrap_err();
        assert_eq!(err.to_string(), "状態「出荷済み」では キャンセル を実行できません");
        assert_eq!(o.status, OrderStatus::Shipped);
    }
}
